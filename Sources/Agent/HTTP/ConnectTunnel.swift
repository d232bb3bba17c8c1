import NIOCore

/// An HTTP CONNECT tunnel through a forward proxy (RFC 9110 §9.3.6), set up on a fresh
/// connection to the proxy before anything else is added to the pipeline: the request is
/// sent when the channel is active, the proxy's answer head is read (at most 16 KiB), and a
/// 2xx opens the tunnel; the handler then removes itself, and TLS to the target starts on
/// the same channel. The answer is never passed on: a proxy's page is not the target's.
final class ConnectTunnelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let target: String
    private let authorization: String?
    private let proxy: String
    private let promise: EventLoopPromise<Void>
    private var head = ByteBuffer()
    private var done = false

    /// Whether `host` can go on the CONNECT line: a DNS name, an IPv4 or an IPv6 literal,
    /// nothing that could end the line (the host may come from a discovery document).
    static func isSafeHost(_ host: String) -> Bool {
        !host.isEmpty && host.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x2D || b == 0x5F || b == 0x3A
        }
    }

    init(host: String, port: Int, proxy: ForwardProxy, promise: EventLoopPromise<Void>) {
        precondition(Self.isSafeHost(host), "callers check the host first")
        target = (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        authorization = proxy.authorization
        self.proxy = proxy.description
        self.promise = promise
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { sendRequest(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendRequest(context)
        context.fireChannelActive()
    }

    private func sendRequest(_ context: ChannelHandlerContext) {
        var request = "CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n"
        if let authorization { request += "Proxy-Authorization: \(authorization)\r\n" }
        request += "\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        var bytes = unwrapInboundIn(data)
        head.writeBuffer(&bytes)
        let view = head.readableBytesView
        guard let end = view.firstRange(of: [13, 10, 13, 10]) else {
            if head.readableBytes > 16 * 1024 { fail(context, "the proxy's answer to CONNECT is too long") }
            return
        }
        let statusLine = String(decoding: view[view.startIndex..<(view.firstRange(of: [13, 10])?.lowerBound ?? end.lowerBound)], as: UTF8.self)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            return fail(context, "the proxy did not answer CONNECT with HTTP")
        }
        guard (200..<300).contains(status) else {
            let hint = status == 407 ? "; check the user and password in HTTPS_PROXY" : ""
            return fail(context, "the proxy refused the tunnel to \(target) with HTTP \(status)\(hint)")
        }
        guard end.upperBound == view.endIndex else {
            return fail(context, "the proxy sent data before the tunnel was used")
        }
        done = true
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
        promise.succeed()
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(context, "the proxy closed the connection before the tunnel opened")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, "\(error)")
    }

    private func fail(_ context: ChannelHandlerContext, _ why: String) {
        guard !done else { return }
        done = true
        promise.fail(AgentError(.transient, "Through the HTTPS proxy \(proxy): \(why)."))
        context.close(promise: nil)
    }
}
