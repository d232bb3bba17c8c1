import NIOCore
import NIOHTTP1

/// What the client side of an exchange hears from its upstream connection. Every call is
/// made on the shared event loop.
protocol UpstreamDelegate: AnyObject {
    func upstreamRead(_ part: HTTPClientResponsePart)
    func upstreamReadComplete()
    func upstreamWritabilityChanged(_ writable: Bool)
    func upstreamClosed(_ error: (any Error)?)
}

/// The last handler of an upstream channel: forwards response parts to the exchange that
/// owns the connection, and withholds `read` while the client cannot take more bytes
/// (backpressure for large downloads).
final class UpstreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    weak var delegate: (any UpstreamDelegate)?
    private var readsPaused = false
    private var pendingRead = false
    private var context: ChannelHandlerContext?
    private(set) var isClosed = false

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        guard let delegate else {
            // An idle pooled connection must not speak; if it does, it is unusable.
            context.close(promise: nil)
            return
        }
        delegate.upstreamRead(part)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        let d = delegate
        delegate = nil
        d?.upstreamClosed(nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        isClosed = true
        let d = delegate
        delegate = nil
        d?.upstreamClosed(error)
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused { pendingRead = true } else { context.read() }
    }

    func pauseReads() { readsPaused = true }

    func resumeReads() {
        guard readsPaused else { return }
        readsPaused = false
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }
}

/// A keep-alive connection to one upstream: the channel and its last handler.
final class UpstreamConnection {
    let channel: any Channel
    let handler: UpstreamHandler
    var idleSince: NIODeadline = .now()

    init(channel: any Channel, handler: UpstreamHandler) {
        self.channel = channel
        self.handler = handler
    }

    var isUsable: Bool { channel.isActive && !handler.isClosed }
}
