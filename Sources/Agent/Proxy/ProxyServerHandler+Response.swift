import Logging
import NIOCore
import NIOHTTP1

/// The response half of the proxy: headers filtered, links rewritten (bounded buffering of
/// JSON only), bodies streamed with backpressure, no redirect followed, one refresh and
/// retry on a 401 `invalid_token` (RFC 6750 §3.1).
extension ProxyServerHandler: UpstreamDelegate {
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
            answer(.upstreamFailed(x.target), version: x.head.version, requestEnded: true)
        }
    }

    private func responseHead(_ x: ProxyExchange, _ head: UpstreamResponseHead) {
        x.upstreamKeepAlive = head.keepAlive
        // A 401 `invalid_token` — or any 401 while the token's expiry is only assumed (the
        // server gave no `expires_in`) — gets one refresh and one retry.
        if head.status == 401, head.refusesToken || proxy.tokens.expiryIsAssumed(connection: x.target.connectionID),
           !x.retriedRejection, x.replayable, x.requestEnded {
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
        let framing = ClientFraming(streaming: head, requestMinor: x.head.version.minor)
        x.response = .streaming(chunked: framing == .chunked)
        context.write(wrapOutboundOut(clientHead(x, head, framing, links: rewriter(x))), promise: nil)
        clientNeedsFlush = true
    }

    /// The response head as the client gets it (`ProxyMessages.clientResponseHead`), its
    /// `Location` rewritten by `links`; a body delimited by the connection's end closes it
    /// after the response.
    private func clientHead(_ x: ProxyExchange, _ head: UpstreamResponseHead, _ framing: ClientFraming,
                            links: LinkRewriter, extraCapacity: Int = 0) -> ByteBuffer {
        if case .closeDelimited = framing { closeAfterResponse = true }
        return ProxyMessages.clientResponseHead(head, requestMinor: x.head.version.minor, framing: framing, close: closeAfterResponse,
                                                links: links, basePath: x.target.basePath, name: x.name,
                                                allocator: context.channel.allocator, extraCapacity: extraCapacity)
    }

    private func writeClientBody(_ buffer: ByteBuffer, chunked: Bool) {
        guard buffer.readableBytes > 0 else { return }
        if chunked {
            context.write(wrapOutboundOut(HTTPWire.chunkHeader(context.channel.allocator, size: buffer.readableBytes)), promise: nil)
            context.write(wrapOutboundOut(buffer), promise: nil)
            context.write(wrapOutboundOut(HTTPWire.crlf), promise: nil)
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
            let links = rewriter(x)
            let (out, rest) = ProxyMessages.collectedAnswer(body, links: links) { length, extra in
                clientHead(x, head, .length(length), links: links, extraCapacity: extra)
            }
            context.write(wrapOutboundOut(out), promise: nil)
            if let rest { context.write(wrapOutboundOut(rest), promise: nil) }
        case .streaming(let chunked):
            if chunked { context.write(wrapOutboundOut(HTTPWire.lastChunk), promise: nil) }
        case .waiting, .finished:
            break
        }
        clientNeedsFlush = false
        context.flush()
        finishExchange()
    }

    private func shouldRewriteBody(_ x: ProxyExchange, _ head: UpstreamResponseHead) -> Bool {
        ProxyMessages.shouldRewriteBody(head, limit: proxy.configuration.maxRewriteBodySize)
    }

    private func rewriter(_ x: ProxyExchange) -> LinkRewriter {
        rewriters.rewriter(clientHost: x.clientHost, name: x.name, target: x.target)
    }
}
