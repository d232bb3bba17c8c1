import NIOCore

/// What the client side of an exchange hears from its upstream connection. Every call is
/// made on the shared event loop.
protocol UpstreamDelegate: AnyObject {
    func upstreamRead(_ event: UpstreamResponseParser.Event)
    func upstreamReadComplete()
    func upstreamWritabilityChanged(_ writable: Bool)
    func upstreamClosed(_ error: (any Error)?)
}

/// The one handler of an upstream channel (after TLS): parses responses with
/// `UpstreamResponseParser` and hands their events to the exchange that owns the
/// connection; turns `autoRead` off while the client cannot take more bytes (backpressure for
/// large downloads). Requests are written as bytes by the exchange (`HTTPWire`).
final class UpstreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    /// The exchange that owns the connection. Strong, and cleared on every path that ends
    /// an exchange (release to the pool, close, abandon, the connection's end): a weak
    /// reference gave every client handler a side table, which sent each of its retains
    /// and releases down the slow path (about 4 % of the proxy's user time).
    /// `ProxyHandlerLifetimeTests` checks that proxied connections still free their handler.
    var delegate: (any UpstreamDelegate)?
    private var parser: UpstreamResponseParser
    private var readsPaused = false
    private var context: ChannelHandlerContext?
    private(set) var isClosed = false

    init(maxHeadSize: Int = 64 * 1024) {
        parser = UpstreamResponseParser(maxHeadSize: maxHeadSize)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// A request is about to be written: parse its response next.
    func expectResponse(toHEAD: Bool) { parser.expectResponse(toHEAD: toHEAD) }

    /// No response outstanding and nothing unread: the connection can carry another request.
    var isReusable: Bool { !isClosed && parser.isIdle && !parser.hasUnreadBytes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard delegate != nil, !parser.isIdle else {
            // An idle pooled connection must not speak; if it does, it is unusable.
            fail(context, UpstreamResponseParser.ParseError("bytes with no request outstanding"))
            return
        }
        parser.append(unwrapInboundIn(data))
        do {
            // One event at a time: the delegate may reuse this connection between events.
            while let delegate, let event = try parser.next() { delegate.upstreamRead(event) }
        } catch {
            fail(context, error)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A body delimited by the end of the connection is complete now.
        if let delegate, let end = parser.inputClosed() { delegate.upstreamRead(end) }
        isClosed = true
        let d = delegate
        delegate = nil
        d?.upstreamClosed(closingError(nil))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, error)
    }

    private func fail(_ context: ChannelHandlerContext, _ error: any Error) {
        isClosed = true
        let d = delegate
        delegate = nil
        d?.upstreamClosed(closingError(error))
        context.close(promise: nil)
    }

    /// What the exchange hears when the connection ends: a response cut short is a
    /// `ParseError`, which is never retried (the server has the request; RFC 9110 §9.2.2).
    private func closingError(_ error: (any Error)?) -> (any Error)? {
        if error is UpstreamResponseParser.ParseError { return error }
        if !parser.isIdle && parser.receivedResponseBytes {
            return UpstreamResponseParser.ParseError("the connection closed in the middle of a response")
        }
        return error
    }

    /// Backpressure by the channel's `autoRead`, not by intercepting `read` (see
    /// `ProxyServerHandler.pause`).
    func pauseReads() {
        guard !readsPaused else { return }
        readsPaused = true
        context?.channel.setAutoReadIfActive(false)
    }

    func resumeReads() {
        guard readsPaused else { return }
        readsPaused = false
        context?.channel.setAutoReadIfActive(true)
    }
}

/// A keep-alive connection to one upstream: the channel and its last handler.
final class UpstreamConnection {
    let channel: any Channel
    let handler: UpstreamHandler
    var idleSince: NIODeadline = .coarseNow()

    init(channel: any Channel, handler: UpstreamHandler) {
        self.channel = channel
        self.handler = handler
    }

    var isUsable: Bool { channel.isActive && handler.isReusable }
}

extension Channel {
    /// Backpressure for both sides of the proxy: reading is turned off and on through
    /// `autoRead` (a closed channel is left alone). Call on the channel's event loop.
    func setAutoReadIfActive(_ on: Bool) {
        guard isActive else { return }
        try? syncOptions?.setOption(.autoRead, value: on)
    }
}
