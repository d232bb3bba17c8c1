import Logging
import NIOCore
import NIOHTTP1

/// The response half of the proxy: headers filtered, links rewritten (bounded buffering of
/// JSON only), bodies streamed with backpressure, no redirect followed, one refresh and
/// retry on a 401 `invalid_token` (RFC 6750 §3.1).
extension ProxyServerHandler: UpstreamDelegate {
    /// How the body of a response to the client is delimited.
    enum ClientFraming: Equatable {
        /// No body (HEAD, 204, 304); the upstream's `Content-Length`, if any, is kept.
        case none(contentLength: Int?)
        case length(Int)
        case chunked
        /// HTTP/1.0 has no chunking: the body ends when the connection does.
        case closeDelimited
    }

    func upstreamRead(_ event: UpstreamResponseParser.Event) {
        guard case .proxying(let x) = state else { return }
        sawActivity = true
        switch event {
        case .head(let head): responseHead(x, head)
        case .body(let buffer): responseBody(x, buffer)
        case .end: responseEnd(x)
        }
    }

    func upstreamReadComplete() {
        // Activity is a response event (not a 1xx or a trickled head): the clock is read
        // once per batch of reads.
        if sawActivity {
            sawActivity = false
            lastActivity = .coarseNow()
        }
        if clientNeedsFlush, let context {
            clientNeedsFlush = false
            context.flush()
        }
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        if writable { resume(.upstreamFull) } else { pause(.upstreamFull) }
    }

    func upstreamClosed(_ error: (any Error)?) {
        guard case .proxying(let x) = state, x.upstream != nil else { return }
        x.upstream = nil
        resume(.upstreamFull)
        if case .waiting = x.response, x.upstreamReused, x.replayable, !x.retriedConnection,
           !(error is UpstreamResponseParser.ParseError) {
            // A pooled connection the server had closed: nothing of this request was
            // answered, so it is sent again on a fresh connection.
            x.retriedConnection = true
            x.endSentUpstream = false
            x.pendingBody = x.replayBody
            connectUpstream(x)
            return
        }
        logger.info("upstream connection lost", metadata: [
            "connection": "\(x.target.connectionID)",
            "error": "\(error.map { ($0 as? UpstreamResponseParser.ParseError)?.description ?? Self.reason($0) } ?? "closed")"])
        closeAfterResponse = true
        if x.responseStarted || { if case .discardingRejection = x.response { return false }; return !canAnswer }() {
            context.close(promise: nil)
        } else {
            answer(RequestRefusal(status: .badGateway, code: "upstream_failed",
                message: "the connection to the Jira server \(x.target.hostHeader) failed"),
                version: x.head.version, requestEnded: true)
        }
    }

    private func responseHead(_ x: ProxyExchange, _ head: UpstreamResponseHead) {
        x.upstreamKeepAlive = head.keepAlive
        if head.status == 401, !x.retriedRejection, x.replayable, x.requestEnded,
           head.values("www-authenticate").contains(where: { $0.contains("invalid_token") }) {
            x.response = .discardingRejection
            return
        }
        // An answer before the request's end (a refusal mid-upload): the rest of the request
        // will not be read, so the connection closes after it — and the head says so.
        if !x.requestEnded { closeAfterResponse = true }
        if shouldRewriteBody(x, head) {
            x.response = .buffering
            x.bufferedHead = head
            return
        }
        startStreaming(x, head)
    }

    /// Writes the client's head for a body passed on as it arrives.
    private func startStreaming(_ x: ProxyExchange, _ head: UpstreamResponseHead) {
        let framing: ClientFraming
        switch head.framing {
        case .none: framing = .none(contentLength: head.status == 204 ? nil : head.contentLength)
        case .length(let n): framing = .length(n)
        case .chunked, .untilClose: framing = x.head.version.minor == 0 ? .closeDelimited : .chunked
        }
        x.response = .streaming(chunked: framing == .chunked)
        context.write(wrapOutboundOut(clientHead(x, head, framing)), promise: nil)
        clientNeedsFlush = true
    }

    /// The largest collected body written into its head's buffer rather than after it.
    static let maxBodyWithHead = 16 * 1024

    /// The response head as the client gets it: the upstream's status and reason, its
    /// fields filtered (`HopByHopHeaders`), `Location` rewritten to the proxy, the proxy's own
    /// framing and connection fields; `extraCapacity` bytes more room in the buffer for a
    /// body to follow.
    private func clientHead(_ x: ProxyExchange, _ head: UpstreamResponseHead, _ framing: ClientFraming,
                            extraCapacity: Int = 0) -> ByteBuffer {
        // `Location`: the upstream's value, or the rewritten one when it is safe to write.
        var location: Range<Int>?, rewritten: String?
        if let field = head.first("location"), !head.listContains("location", in: "connection") {
            location = field.value
            let value = head.string(field)
            if let r = rewriter(x).rewrite(value) ?? relativeLocation(x, value), r.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) {
                // (A value with a control character is not written; the upstream's own,
                // parser-checked value stays.)
                rewritten = r
            }
        }
        let minor = x.head.version.minor == 0 ? 0 : 1
        if case .closeDelimited = framing { closeAfterResponse = true }
        // Everything written, counted generously: the kept field lines are at most the
        // upstream's head plus a CR each; the rest is bounded constants and `Location`.
        let reserve = head.bytes.readableBytes + head.fields.count + (rewritten?.utf8.count ?? 0) + 160
        var out = context.channel.allocator.buffer(capacity: reserve + extraCapacity)
        out.write(reserving: reserve) { w in
            w.append(minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
            w.appendDecimal(min(max(head.status, 100), 999))
            w.append(" ")
            head.withBytes { raw in
                w.append(UnsafeRawBufferPointer(rebasing: raw[head.reason]))
                w.append("\r\n")
                HopByHopHeaders.writeClientResponseFields(head, into: &w)
                if let location {
                    w.append("Location: ")
                    if let rewritten { w.append(rewritten) } else { w.append(UnsafeRawBufferPointer(rebasing: raw[location])) }
                    w.append("\r\n")
                }
            }
            switch framing {
            case .none(let length):
                if let length { w.append("Content-Length: "); w.appendDecimal(length); w.append("\r\n") }
            case .length(let length):
                w.append("Content-Length: ")
                w.appendDecimal(length)
                w.append("\r\n")
            case .chunked:
                w.append("Transfer-Encoding: chunked\r\n")
            case .closeDelimited:
                break
            }
            if closeAfterResponse {
                w.append("Connection: close\r\n")
            } else if minor == 0 {
                w.append("Connection: keep-alive\r\n")
            }
            w.append("\r\n")
        }
        return out
    }

    private func writeClientBody(_ buffer: ByteBuffer, chunked: Bool) {
        guard buffer.readableBytes > 0 else { return }
        if chunked {
            context.write(wrapOutboundOut(HTTPWire.chunkHeader(context.channel.allocator, size: buffer.readableBytes)), promise: nil)
            context.write(wrapOutboundOut(buffer), promise: nil)
            context.write(wrapOutboundOut(Self.crlf), promise: nil)
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    private func responseBody(_ x: ProxyExchange, _ buffer: ByteBuffer) {
        switch x.response {
        case .streaming(let chunked):
            writeClientBody(buffer, chunked: chunked)
            clientNeedsFlush = true
        case .buffering:
            let collectedBytes = x.collected?.readableBytes ?? 0
            if collectedBytes + buffer.readableBytes > proxy.configuration.maxRewriteBodySize {
                // Too large to rewrite: pass it through unmodified, streaming from here on.
                let head = x.bufferedHead!, collected = x.collected
                x.bufferedHead = nil
                x.collected = nil
                startStreaming(x, head)
                guard case .streaming(let chunked) = x.response else { return }
                if let collected { writeClientBody(collected, chunked: chunked) }
                writeClientBody(buffer, chunked: chunked)
            } else if x.collected == nil {
                x.collected = buffer  // one read's slice: no copy
            } else {
                var buffer = buffer
                x.collected!.writeBuffer(&buffer)
            }
        case .discardingRejection, .waiting, .finished:
            break
        }
    }

    private func responseEnd(_ x: ProxyExchange) {
        let previous = x.response
        x.response = .finished
        // An answer before the request's end: the rest of the request is not read.
        if !x.requestEnded { closeAfterResponse = true }
        if let upstream = x.upstream {
            x.upstream = nil
            if x.upstreamKeepAlive && x.endSentUpstream { x.pool?.release(upstream) }
            else { upstream.handler.delegate = nil; upstream.channel.close(promise: nil) }
        }
        resume(.upstreamFull)
        switch previous {
        case .discardingRejection:
            // The connection went back to the pool (or closed) before its read completed, so
            // `upstreamReadComplete` will not record this batch: record it here, as
            // `finishExchange` does on every other way out.
            lastActivity = .coarseNow()
            sawActivity = false
            x.retriedRejection = true
            x.response = .waiting
            x.endSentUpstream = false
            x.pendingBody = x.replayBody
            logger.debug("upstream rejected the token; refreshing", metadata: ["connection": "\(x.target.connectionID)"])
            fetchToken(x, rejected: x.token)
            x.token = nil
            return
        case .buffering:
            let head = x.bufferedHead!, body = x.collected ?? context.channel.allocator.buffer(capacity: 0)
            x.bufferedHead = nil
            x.collected = nil
            var rewritten = rewriter(x).rewrite(body) ?? body
            if rewritten.readableBytes <= Self.maxBodyWithHead {
                // One write, one buffer: a small body goes out behind its head (NIO's write
                // path per buffer costs more than copying a few KiB).
                var out = clientHead(x, head, .length(rewritten.readableBytes), extraCapacity: rewritten.readableBytes)
                out.writeBuffer(&rewritten)
                context.write(wrapOutboundOut(out), promise: nil)
            } else {
                context.write(wrapOutboundOut(clientHead(x, head, .length(rewritten.readableBytes))), promise: nil)
                context.write(wrapOutboundOut(rewritten), promise: nil)
            }
        case .streaming(let chunked):
            if chunked { context.write(wrapOutboundOut(Self.lastChunk), promise: nil) }
        case .waiting, .finished:
            break
        }
        clientNeedsFlush = false
        context.flush()
        finishExchange()
    }

    private func shouldRewriteBody(_ x: ProxyExchange, _ head: UpstreamResponseHead) -> Bool {
        guard head.framing != .none else { return false }
        // First field of each name; ASCII case-insensitive comparisons on the bytes.
        guard let type = head.first("content-type"),
              head.withBytes({ ASCIICaseless.contains(UnsafeRawBufferPointer(rebasing: $0[type.value]), ASCIICaseless.bytes("json")) })
        else { return false }
        if let encoding = head.first("content-encoding"),
           !head.withBytes({ ASCIICaseless.equal($0, encoding.value, "identity") }) { return false }
        if let length = head.contentLength, length > proxy.configuration.maxRewriteBodySize { return false }
        return true
    }

    private func rewriter(_ x: ProxyExchange) -> LinkRewriter {
        // Keyed by what the proxy base is made of, so a hit builds no string.
        if let cached = rewriterCache, cached.host == x.clientHost, cached.name == x.name,
           cached.bases == x.target.rewriteBases { return cached.rewriter }
        // The proxy base goes into `Location` and JSON strings: only visible ASCII without
        // `"` and `\` (the client's Host and a catalog name), else links stay as they are.
        let base = x.proxyBase
        let rewriter = LinkRewriter(bases: LinkRewriter.isLinkSafe(base) ? x.target.rewriteBases : [], proxyBase: base)
        rewriterCache = (x.clientHost, x.name, x.target.rewriteBases, rewriter)
        return rewriter
    }

    /// A path-absolute `Location` under the upstream's base path becomes a path on the proxy.
    private func relativeLocation(_ x: ProxyExchange, _ location: String) -> String? {
        guard location.hasPrefix("/"), !location.hasPrefix("//") else { return nil }
        let base = x.target.basePath
        guard location.hasPrefix(base) else { return nil }
        let rest = location.dropFirst(base.count)
        guard rest.isEmpty || rest.first == "/" || rest.first == "?" else { return nil }
        return ProxyRoute.prefix + x.name + rest
    }
}
