import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
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
            try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(
                version: .http1_1, method: .GET, uri: "/nowhere", headers: ["Host": "localhost"])))
            try channel.writeInbound(HTTPServerRequestPart.end(nil))
            let response = try channel.readOutbound(as: ByteBuffer.self)
            #expect(response.map { String(buffer: $0) }?.hasPrefix("HTTP/1.1 404 Not Found\r\n") == true)
            _ = try channel.finish(acceptAlreadyClosed: true)
        }()
        #expect(released == nil, "the handler outlived its connection")
    }
}
