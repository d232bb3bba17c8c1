import Foundation
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
public import NIOPosix

/// A tiny HTTP/1.1 server on 127.0.0.1 that stands in for a Jira gateway in proxy tests:
/// records every request (head fields and up to 1 MiB of body, plus the body's full size)
/// and answers what `reply` says, optionally with a generated body of any size streamed
/// with backpressure.
public final class RecordingUpstream: Sendable {
    public struct Request: Sendable {
        public var method: String
        public var uri: String
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        public var bodySize: Int
        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    public struct Reply: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        /// When set, a body of this many bytes is generated (ignores `body`).
        public var generatedBodySize: Int?
        public init(status: Int = 200, headers: [(String, String)] = [], body: [UInt8] = [], generatedBodySize: Int? = nil) {
            self.status = status
            self.headers = headers
            self.body = body
            self.generatedBodySize = generatedBodySize
        }
        public static func json(_ text: String, status: Int = 200) -> Reply {
            Reply(status: status, headers: [("Content-Type", "application/json")], body: Array(text.utf8))
        }
    }

    private let requestsBox = NIOLockedValueBox<[Request]>([])
    let reply: @Sendable (Request) -> Reply
    let channel: any Channel
    public let port: Int

    public var requests: [Request] { requestsBox.withLockedValue { $0 } }

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                reply: @escaping @Sendable (Request) -> Reply) async throws {
        self.reply = reply
        let box = requestsBox
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(UpstreamRecorder(requests: box, reply: reply))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    public func stop() async { try? await channel.close() }
}

final class UpstreamRecorder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let requests: NIOLockedValueBox<[RecordingUpstream.Request]>
    let reply: @Sendable (RecordingUpstream.Request) -> RecordingUpstream.Reply
    var current: RecordingUpstream.Request?

    init(requests: NIOLockedValueBox<[RecordingUpstream.Request]>,
         reply: @escaping @Sendable (RecordingUpstream.Request) -> RecordingUpstream.Reply) {
        self.requests = requests
        self.reply = reply
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            current = .init(method: head.method.rawValue, uri: head.uri,
                             headers: head.headers.map { ($0.name, $0.value) }, body: [], bodySize: 0)
        case .body(let buffer):
            current?.bodySize += buffer.readableBytes
            if (current?.body.count ?? 0) < 1 << 20 { current?.body += buffer.readableBytesView }
        case .end:
            guard let request = current else { return }
            current = nil
            requests.withLockedValue { $0.append(request) }
            respond(context: context, reply(request))
        }
    }

    private func respond(context: ChannelHandlerContext, _ reply: RecordingUpstream.Reply) {
        var headers = HTTPHeaders(reply.headers)
        let size = reply.generatedBodySize ?? reply.body.count
        if !headers.contains(name: "content-length") { headers.add(name: "Content-Length", value: String(size)) }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1,
            status: HTTPResponseStatus(statusCode: reply.status), headers: headers))), promise: nil)
        if let generated = reply.generatedBodySize {
            var chunk = context.channel.allocator.buffer(capacity: 64 * 1024)
            chunk.writeRepeatingByte(UInt8(ascii: "x"), count: 64 * 1024)
            writeChunks(context: context, chunk: chunk, left: generated)
        } else {
            if !reply.body.isEmpty {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: reply.body)))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    /// Writes the next chunk only when the previous one left the process: bounded memory.
    private func writeChunks(context: ChannelHandlerContext, chunk: ByteBuffer, left: Int) {
        guard left > 0 else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        let slice = chunk.getSlice(at: chunk.readerIndex, length: min(left, chunk.readableBytes))!
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(slice)))).assumeIsolated().whenSuccess { [self] in
            writeChunks(context: context, chunk: chunk, left: left - slice.readableBytes)
        }
    }
}
