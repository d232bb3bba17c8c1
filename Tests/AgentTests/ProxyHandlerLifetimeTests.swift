import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import Testing
import TestSupport
@testable import Agent

/// Every client connection's handler is freed with its connection. The handler keeps its
/// `ChannelHandlerContext`, which keeps the handler: until the handler let go of it on
/// removal, each token-API request leaked both (~550 bytes; the idle RSS grew 5.5 MiB per
/// 10,000 requests).
@Suite struct ProxyHandlerLifetimeTests {
    func makeHandler() -> ProxyServerHandler {
        let proxy = JiraProxy(catalog: { ConnectionCatalog() }, tokens: FakeTokenProvider(),
                              configuration: ProxyConfiguration(), logger: Logger(label: "test"))
        return ProxyServerHandler(proxy: proxy, listener: .unixSocket(tcpPort: nil), peer: PeerCredentials(uid: getuid()),
                                  api: nil, apiBodyLimit: 1024)
    }

    @Test func handlerIsFreedWhenItsConnectionCloses() throws {
        weak var released: ProxyServerHandler?
        try {
            let channel = EmbeddedChannel()
            let handler = makeHandler()
            released = handler
            try channel.pipeline.syncOperations.addHandler(handler)
            // One answered request, as the token API sees them.
            try channel.writeInbound(ByteBuffer(string: "GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n"))
            let response = try channel.readOutbound(as: ByteBuffer.self)
            #expect(response.map { String(buffer: $0) }?.hasPrefix("HTTP/1.1 404 Not Found\r\n") == true)
            _ = try channel.finish(acceptAlreadyClosed: true)
        }()
        #expect(released == nil, "the handler outlived its connection")
    }

    /// Proxied requests too (the handler and its channel): while an exchange runs, its upstream connection's handler
    /// holds the client's handler (`UpstreamHandler.delegate`, strong); every way an exchange
    /// ends must let go of it — a completed response (the connection goes to the pool), the
    /// client leaving mid-response, and the upstream failing. And a `Connection: close`
    /// request, whose connection ends with a lingering close: the check that cuts a stalled
    /// client off held the connection for `stallTimeout` (60 s) after the client had gone.
    @Test(arguments: ["complete", "client leaves mid-response", "upstream fails", "Connection: close"])
    func proxiedHandlerIsFreed(_ ending: String) async throws {
        let upstream = try ScriptedUpstream { _ in
            switch ending {
            case "complete", "Connection: close": return .init("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            case "upstream fails": return .init("HTTP/1.1 200 OK\r\nContent-Len", close: true)
            default: return .init(pieces: ["HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab", "cd"], pause: 1)
            }
        }
        defer { upstream.stop() }
        let catalog = ConnectionCatalog(connections: [Connection(id: "acme", jiraURL: URL(string: upstream.baseURL)!, clientID: "c")])
        let proxy = JiraProxy(catalog: { catalog }, tokens: FakeTokenProvider(tokens: ["acme": "t"]),
                              configuration: ProxyConfiguration(), logger: Logger(label: "test"))
        let handlers = Box<[WeakHandler]>()
        handlers.value = []
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = ProxyServerHandler(proxy: proxy, listener: .unixSocket(tcpPort: nil),
                                                     peer: PeerCredentials(uid: getuid()), api: nil, apiBodyLimit: 1024)
                    handlers.value!.append(WeakHandler(handler, channel))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = server.localAddress!.port!
        let answered = try await offloaded { () -> Int in
            let client = try RawHTTPClient(tcpPort: port)
            let close = ending == "Connection: close" ? "Connection: close\r\n" : ""
            try client.send("GET /jira/acme/x HTTP/1.1\r\nHost: localhost\r\n\(close)\r\n")
            if ending == "client leaves mid-response" {
                Thread.sleep(forTimeInterval: 0.3)  // the head and half the body are on their way
                return 0
            }
            return try client.readResponse().status
        }  // the client's socket closes here
        #expect(answered == (ending == "upstream fails" ? 502 : ending == "client leaves mid-response" ? 0 : 200))
        var freed = false
        for _ in 0..<50 where !freed {
            try await Task.sleep(for: .milliseconds(50))
            freed = handlers.value!.allSatisfy { $0.handler == nil && $0.channel == nil }
        }
        try await server.close()
        #expect(handlers.value!.count == 1)
        #expect(freed, "the client's handler or channel outlived its connection (\(ending))")
    }
}

final class WeakHandler: @unchecked Sendable {
    weak var handler: ProxyServerHandler?
    weak var channel: (any Channel)?
    init(_ handler: ProxyServerHandler, _ channel: (any Channel)? = nil) {
        self.handler = handler
        self.channel = channel
    }
}
