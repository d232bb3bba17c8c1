import Logging
import NIOCore
import NIOHTTP1

/// The response half of the proxy: headers filtered, links rewritten (bounded buffering of
/// JSON only), bodies streamed with backpressure, no redirect followed, one refresh and
/// retry on a 401 `invalid_token` (RFC 6750 §3.1).
extension ProxyServerHandler: UpstreamDelegate {
    func upstreamRead(_ part: HTTPClientResponsePart) {
        guard case .proxying(let x) = state else { return }
        lastActivity = .now()
        switch part {
        case .head(let head): responseHead(x, head)
        case .body(let buffer): responseBody(x, buffer)
        case .end: responseEnd(x)
        }
    }

    func upstreamReadComplete() {
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
        if case .waiting = x.response, x.upstreamReused, x.replayable, !x.retriedConnection {
            // A pooled connection the server had closed: nothing of this request was
            // answered, so it is sent again on a fresh connection.
            x.retriedConnection = true
            x.endSentUpstream = false
            x.pendingBody = x.replayBody
            connectUpstream(x)
            return
        }
        logger.info("upstream connection lost", metadata: ["connection": "\(x.target.connectionID)"])
        closeAfterResponse = true
        if x.responseStarted || { if case .discardingRejection = x.response { return false }; return !canAnswer }() {
            context.close(promise: nil)
        } else {
            answer(RequestRefusal(status: .badGateway, code: "upstream_failed",
                message: "the connection to the Jira server \(x.target.hostHeader) failed"),
                version: x.head.version, requestEnded: true)
        }
    }

    private func responseHead(_ x: ProxyExchange, _ head: HTTPResponseHead) {
        x.upstreamKeepAlive = head.isKeepAlive
        if head.status == .unauthorized, !x.retriedRejection, x.replayable, x.requestEnded,
           head.headers[canonicalForm: "www-authenticate"].contains(where: { $0.contains("invalid_token") }) {
            x.response = .discardingRejection
            return
        }
        if !x.requestEnded && !x.head.isKeepAlive { closeAfterResponse = true }
        var headers = HopByHopHeaders.clientResponseHeaders(head.headers)
        if let location = headers.first(name: "location"),
           let rewritten = rewriter(x).rewrite(location) ?? relativeLocation(x, location),
           rewritten.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) {
            // (No header validator runs after this: a value with a control character is
            // not written; the upstream's own, parser-checked value stays.)
            headers.replaceOrAdd(name: "Location", value: rewritten)
        }
        let clientKeepAlive = x.head.isKeepAlive && !closeAfterResponse
        var out = HTTPResponseHead(version: x.head.version, status: head.status, headers: headers)
        if !clientKeepAlive {
            closeAfterResponse = true
            out.headers.replaceOrAdd(name: "Connection", value: "close")
        } else if x.head.version.minor == 0 {
            out.headers.replaceOrAdd(name: "Connection", value: "keep-alive")
        }
        if shouldRewriteBody(x, head) {
            x.response = .buffering(out, context.channel.allocator.buffer(capacity: 0))
            return
        }
        if x.head.version.minor == 0, !out.headers.contains(name: "content-length"), x.head.method != .HEAD,
           head.status.mayHaveResponseBody {
            // HTTP/1.0 has no chunking: the body ends when the connection does.
            closeAfterResponse = true
            out.headers.replaceOrAdd(name: "Connection", value: "close")
        }
        x.response = .streaming
        context.write(wrapOutboundOut(.head(out)), promise: nil)
        clientNeedsFlush = true
    }

    private func responseBody(_ x: ProxyExchange, _ buffer: ByteBuffer) {
        switch x.response {
        case .streaming:
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            clientNeedsFlush = true
        case .buffering(let head, var collected):
            x.response = .waiting  // avoid a copy of `collected` while it grows
            if collected.readableBytes + buffer.readableBytes > proxy.configuration.maxRewriteBodySize {
                // Too large to rewrite: pass it through unmodified, streaming from here on.
                x.response = .streaming
                context.write(wrapOutboundOut(.head(head)), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(collected))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
                clientNeedsFlush = true
            } else {
                var buffer = buffer
                if collected.readableBytes == 0 { collected = buffer } else { collected.writeBuffer(&buffer) }
                x.response = .buffering(head, collected)
            }
        case .discardingRejection, .waiting, .finished:
            break
        }
    }

    private func responseEnd(_ x: ProxyExchange) {
        let previous = x.response
        x.response = .finished
        if let upstream = x.upstream {
            x.upstream = nil
            if x.upstreamKeepAlive && x.endSentUpstream { x.pool?.release(upstream) }
            else { upstream.handler.delegate = nil; upstream.channel.close(promise: nil) }
        }
        resume(.upstreamFull)
        switch previous {
        case .discardingRejection:
            x.retriedRejection = true
            x.response = .waiting
            x.endSentUpstream = false
            x.pendingBody = x.replayBody
            logger.debug("upstream rejected the token; refreshing", metadata: ["connection": "\(x.target.connectionID)"])
            fetchToken(x, rejected: x.token)
            x.token = nil
            return
        case .buffering(var head, let body):
            let rewritten = rewriter(x).rewrite(body) ?? body
            head.headers.replaceOrAdd(name: "Content-Length", value: String(rewritten.readableBytes))
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if rewritten.readableBytes > 0 {
                context.write(wrapOutboundOut(.body(.byteBuffer(rewritten))), promise: nil)
            }
        case .streaming, .waiting, .finished:
            break
        }
        clientNeedsFlush = false
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if !x.requestEnded { closeAfterResponse = true }
        finishExchange()
    }

    private func shouldRewriteBody(_ x: ProxyExchange, _ head: HTTPResponseHead) -> Bool {
        guard x.head.method != .HEAD, head.status.mayHaveResponseBody else { return false }
        // One pass over the fields, first of each name; ASCII case-insensitive comparisons
        // (`lowercased()` then `contains` went through Foundation on every response).
        var type: String?, encoding: String?, length: String?
        for (name, value) in head.headers {
            switch name.utf8.count {
            case 12 where type == nil && name.isEqualLowercased("content-type"): type = value
            case 14 where length == nil && name.isEqualLowercased("content-length"): length = value
            case 16 where encoding == nil && name.isEqualLowercased("content-encoding"): encoding = value
            default: break
            }
        }
        guard let type, type.containsLowercased("json") else { return false }
        if let encoding, !encoding.isEqualLowercased("identity") { return false }
        if let length = length.flatMap(Int.init), length > proxy.configuration.maxRewriteBodySize { return false }
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
