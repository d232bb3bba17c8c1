import CAgentSystem
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The upstream side of the fast lane: connecting, sending the request head, reading the
/// response and passing it on (JSON collected and its links rewritten, other bodies
/// streamed), the pool, and failures.
extension FastLaneLoop {
    func connect(_ c: FastClient, _ x: FastExchange) {
        var pending: Int32 = 0
        let fd = csystem_tcp_connect(x.address, Int32(x.target.port), &pending)
        guard fd >= 0 else {
            logger.info("upstream connect failed", metadata: ["connection": "\(x.target.connectionID)", "errno": "\(errno)"])
            return answer(c, .upstreamUnreachable(x.target, timedOut: false), close: false)
        }
        let u = FastUpstream(fd: fd, generation: generation(), pool: x.pool, connecting: pending != 0,
                             maxHeadSize: max(64 * 1024, configuration.maxHeaderSize), now: now)
        if Int(fd) >= upstreams.count { upstreams += Array(repeating: nil, count: Int(fd) + 64 - upstreams.count) }
        upstreams[Int(fd)] = u
        u.interest = u.connecting ? CSYSTEM_EPOLL_OUT : CSYSTEM_EPOLL_IN
        guard csystem_epoll_control(ep, 1, fd, u.interest, FastLaneToken.make(kind: FastLaneToken.upstream, fd: fd, generation: u.generation)) == 0 else {
            upstreams[Int(fd)] = nil
            close(fd)
            logger.warning("an upstream connection could not be watched", metadata: ["errno": "\(errno)"])
            return answer(c, .upstreamUnreachable(x.target, timedOut: false), close: false)
        }
        x.reused = false
        attach(c, x, u)
    }

    func attach(_ c: FastClient, _ x: FastExchange, _ u: FastUpstream) {
        x.upstream = u
        u.client = c
        u.responses.expectResponse(toHEAD: false)
        u.output.append(x.upstreamHead)
        guard !u.connecting else { return }
        sendUpstream(u)
    }

    func sendUpstream(_ u: FastUpstream) {
        guard u.output.flush(to: u.fd) else { return upstreamFailed(u, parseError: false) }
        setInterest(upstream: u, u.output.isEmpty ? u.interest & ~CSYSTEM_EPOLL_OUT : u.interest | CSYSTEM_EPOLL_OUT)
    }

    func upstreamReady(_ u: FastUpstream, _ ready: UInt32) {
        // (A failed connect reports writability too; an error or hang-up alone is checked the same way.)
        if ready & CSYSTEM_EPOLL_OUT != 0 || u.connecting && ready & (CSYSTEM_EPOLL_ERR | CSYSTEM_EPOLL_HUP) != 0 {
            if u.connecting {
                guard csystem_socket_error(u.fd) == 0 else {
                    guard let c = u.client, let x = c.exchange else { return closeUpstream(u) }
                    logger.info("upstream connect failed", metadata: ["connection": "\(x.target.connectionID)"])
                    x.upstream = nil
                    closeUpstream(u)
                    return answer(c, .upstreamUnreachable(x.target, timedOut: false), close: false)
                }
                u.connecting = false
                setInterest(upstream: u, CSYSTEM_EPOLL_IN)
            }
            sendUpstream(u)
            guard upstreams[Int(u.fd)] === u else { return }
        }
        if ready & (CSYSTEM_EPOLL_IN | CSYSTEM_EPOLL_HUP | CSYSTEM_EPOLL_ERR) != 0, !u.connecting {
            readUpstream(u)
        }
    }

    func readUpstream(_ u: FastUpstream) {
        guard u.client != nil else {
            // Pooled: the server closed it or sent bytes nobody asked for; either way it is done.
            return closeUpstream(u)
        }
        reads: for _ in 0..<4 {
            let buffer: ByteBuffer
            switch receive(u.fd, Self.upstreamReadSize) {
            case .bytes(let bytes): buffer = bytes
            case .interrupted: continue
            case .wouldBlock: break reads
            case .failed: return upstreamFailed(u, parseError: false)
            case .closed:
                // The end of a body delimited by the connection's end, or a failure.
                if let c = u.client, let x = c.exchange, x.upstream === u, case .end? = u.responses.inputClosed() {
                    x.upstreamKeepAlive = false
                    return responseEnd(c, x, u)
                }
                return upstreamFailed(u, parseError: false)
            }
            u.responses.append(buffer)
            readResponse(u)
            guard upstreams[Int(u.fd)] === u, u.client != nil else { return }
            if buffer.readableBytes < Self.upstreamReadSize { break }
        }
    }

    func readResponse(_ u: FastUpstream) {
        while let c = u.client, let x = c.exchange, x.upstream === u {
            let event: UpstreamResponseParser.Event?
            do {
                event = try u.responses.next()
            } catch {
                logger.info("upstream connection lost", metadata: ["connection": "\(x.target.connectionID)", "error": "\(error.description)"])
                return upstreamFailed(u, parseError: true)
            }
            guard let event else { return }
            // Activity is a response event: not a 1xx, not a head trickling in.
            c.lastActivity = now
            switch event {
            case .head(let head): responseHead(c, x, u, head)
            case .body(let buffer): responseBody(c, x, buffer)
            case .end: responseEnd(c, x, u)
            }
        }
    }

    func responseHead(_ c: FastClient, _ x: FastExchange, _ u: FastUpstream, _ head: UpstreamResponseHead) {
        if head.refusesToken, !draining, !lane.stopping.load(ordering: .acquiring) {
            // The token was refused: the channel path refreshes it (once, shared with every
            // request that saw the same token) and sends the request — a GET — again. It gets
            // the request's head and everything read after it (the request had no body).
            // (While the agent stops, the 401 is passed on.)
            var unread = x.head.bytes
            if var after = c.requests.unreadBytes { unread.writeBuffer(&after) }
            return handOff(c, unread: unread, rejected: (x.target.connectionID, x.token))
        }
        x.upstreamKeepAlive = head.keepAlive
        if ProxyMessages.shouldRewriteBody(head, limit: configuration.maxRewriteBodySize) {
            x.phase = .buffering
            x.bufferedHead = head
            return
        }
        startStreaming(c, x, head)
    }

    func startStreaming(_ c: FastClient, _ x: FastExchange, _ head: UpstreamResponseHead) {
        let framing = ClientFraming(streaming: head, requestMinor: 1)
        x.phase = .streaming(chunked: framing == .chunked)
        c.output.append(clientHead(c, x, head, framing, links: rewriter(x)))
        guard c.output.flush(to: c.fd) else { return closeClient(c) }  // the head goes out at once
        clientOutputChanged(c)
    }

    /// The response head as the client gets it (`ProxyMessages.clientResponseHead`), its
    /// `Location` rewritten by `links`.
    func clientHead(_ c: FastClient, _ x: FastExchange, _ head: UpstreamResponseHead, _ framing: ClientFraming,
                    links: LinkRewriter, extraCapacity: Int = 0) -> ByteBuffer {
        ProxyMessages.clientResponseHead(head, requestMinor: 1, framing: framing, close: c.closeAfterResponse, links: links,
                                         basePath: x.target.basePath, name: x.name, allocator: allocator, extraCapacity: extraCapacity)
    }

    func rewriter(_ x: FastExchange) -> LinkRewriter {
        rewriters.rewriter(clientHost: x.clientHost, name: x.name, target: x.target)
    }

    func responseBody(_ c: FastClient, _ x: FastExchange, _ buffer: ByteBuffer) {
        switch x.phase {
        case .streaming(let chunked):
            writeBody(c, buffer, chunked: chunked)
        case .buffering:
            let collected = x.collected?.readableBytes ?? 0
            if collected + buffer.readableBytes > configuration.maxRewriteBodySize {
                // Too large to rewrite: passed on unmodified, streaming from here on.
                let head = x.bufferedHead!, earlier = x.collected
                x.bufferedHead = nil
                x.collected = nil
                startStreaming(c, x, head)
                guard clients[Int(c.fd)] === c, case .streaming(let chunked) = x.phase else { return }
                if let earlier { guard writeBody(c, earlier, chunked: chunked) else { return } }
                writeBody(c, buffer, chunked: chunked)
            } else if x.collected == nil {
                x.collected = buffer
            } else {
                var buffer = buffer
                x.collected!.writeBuffer(&buffer)
            }
        case .waiting:
            break
        }
    }

    /// `false` when the client is gone (the connection was closed).
    @discardableResult
    func writeBody(_ c: FastClient, _ buffer: ByteBuffer, chunked: Bool) -> Bool {
        guard clients[Int(c.fd)] === c else { return false }
        guard buffer.readableBytes > 0 else { return true }
        if chunked { c.output.append(HTTPWire.chunkHeader(allocator, size: buffer.readableBytes)) }
        c.output.append(buffer)
        if chunked { c.output.append(HTTPWire.crlf) }
        guard c.output.flush(to: c.fd) else {
            closeClient(c)
            return false
        }
        clientOutputChanged(c)
        return clients[Int(c.fd)] === c
    }

    func responseEnd(_ c: FastClient, _ x: FastExchange, _ u: FastUpstream) {
        switch x.phase {
        case .buffering:
            let head = x.bufferedHead!, body = x.collected ?? allocator.buffer(capacity: 0)
            x.bufferedHead = nil
            x.collected = nil
            let links = rewriter(x)
            let (out, rest) = ProxyMessages.collectedAnswer(body, links: links) { length, extra in
                clientHead(c, x, head, .length(length), links: links, extraCapacity: extra)
            }
            c.output.append(out)
            if let rest { c.output.append(rest) }
        case .streaming(let chunked):
            if chunked { c.output.append(HTTPWire.lastChunk) }
        case .waiting:
            break
        }
        x.upstream = nil
        u.client = nil
        if x.upstreamKeepAlive, !u.responses.hasUnreadBytes, u.output.isEmpty, !draining {
            u.idleSince = now
            setInterest(upstream: u, CSYSTEM_EPOLL_IN)
            if u.pool.idle.count < configuration.maxIdleUpstreamConnections {
                u.pool.idle.append(u)
                idleCount += 1
            } else {
                closeUpstream(u)
            }
        } else {
            closeUpstream(u)
        }
        c.exchange = nil
        lane.served.add(1, ordering: .relaxed)
        guard c.output.flush(to: c.fd) else { return closeClient(c) }
        exchangeEnded(c)
    }

    /// The upstream connection closed or failed before the response ended (`parseError`:
    /// it sent something that is not a response).
    func upstreamFailed(_ u: FastUpstream, parseError: Bool) {
        guard let c = u.client, let x = c.exchange, x.upstream === u else { return closeUpstream(u) }
        x.upstream = nil
        closeUpstream(u)
        switch x.phase {
        case .waiting where x.reused && !x.retried && !parseError && !u.responses.receivedResponseBytes:
            // A pooled connection the server had closed: nothing of this request was
            // answered, so it goes again on a fresh connection.
            x.retried = true
            connect(c, x)
        case .waiting, .buffering:
            if !parseError {
                logger.info("upstream connection lost", metadata: ["connection": "\(x.target.connectionID)", "error": "closed"])
            }
            answer(c, .upstreamFailed(x.target), close: true)
        case .streaming:
            closeClient(c)
        }
    }

    func closeUpstream(_ u: FastUpstream) {
        guard upstreams[Int(u.fd)] === u else { return }
        upstreams[Int(u.fd)] = nil
        if u.client == nil, let i = u.pool.idle.firstIndex(where: { $0 === u }) {
            u.pool.idle.remove(at: i)
            idleCount -= 1
        }
        u.client = nil
        _ = csystem_epoll_control(ep, 2, u.fd, 0, 0)
        close(u.fd)
    }
}
