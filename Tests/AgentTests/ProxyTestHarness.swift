import Agent
import Foundation
import Logging
import NIOCore
import TestSupport

/// A running proxy for tests: a recording upstream standing in for the gateway (with a
/// context path `/jira`), a fake token provider, and the real `AgentServer` on port 0 and a
/// Unix socket in a temporary directory. `jiraURL` points `acme` elsewhere (a
/// `ScriptedUpstream`).
struct ProxyHarness {
    let upstream: RecordingUpstream
    let tokens: FakeTokenProvider
    let server: AgentServer
    let port: Int
    let socketPath: String

    static func start(
        tokens: FakeTokenProvider = FakeTokenProvider(tokens: ["acme": "tok-acme"]),
        proxy: ProxyConfiguration = ProxyConfiguration(),
        api: (any LocalAPIResponder)? = nil,
        jiraURL: String? = nil,
        shutdownGracePeriod: TimeAmount = .seconds(2),
        reply: @escaping @Sendable (RecordingUpstream.Request) -> RecordingUpstream.Reply = { _ in .json(#"{"ok":true}"#) }
    ) async throws -> ProxyHarness {
        let upstream = try await RecordingUpstream(reply: reply)
        let acme = Connection(id: "acme", jiraURL: URL(string: jiraURL ?? "\(upstream.baseURL)/jira")!, clientID: "c", isDefault: true)
        let other = Connection(id: "other", jiraURL: URL(string: "http://127.0.0.1:9/other")!, clientID: "c")
        let catalog = ConnectionCatalog(connections: [acme, other], teams: ["design": "acme"])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxy-\(UUID().uuidString.prefix(8))").path
        let socketPath = dir + "/agent.sock"
        let server = AgentServer(
            configuration: .init(tcpPort: 0, unixSocketPath: socketPath, proxy: proxy, shutdownGracePeriod: shutdownGracePeriod),
            catalog: { catalog }, tokens: tokens, api: api,
            logger: Logger(label: "proxy-test"))
        let bound = try await server.start()
        return ProxyHarness(upstream: upstream, tokens: tokens, server: server, port: bound.tcpPort!, socketPath: socketPath)
    }

    /// A harness whose upstream refuses every token but `new` (401 `invalid_token`) and
    /// whose token provider holds `old` and refreshes it to `new`.
    static func startRefusingOldToken() async throws -> (ProxyHarness, FakeTokenProvider) {
        let tokens = FakeTokenProvider(tokens: ["acme": "old"])
        tokens.setRefreshResult("new", for: "acme")
        let h = try await start(tokens: tokens) { request in
            request.header("authorization") == "Bearer new"
                ? .json(#"{"ok":true}"#)
                : .init(status: 401, headers: [("WWW-Authenticate", #"Bearer error="invalid_token""#)], body: Array("no".utf8))
        }
        return (h, tokens)
    }

    func stop() async {
        await server.shutdown()
        await upstream.stop()
        try? FileManager.default.removeItem(atPath: (socketPath as NSString).deletingLastPathComponent)
    }

    var host: String { "127.0.0.1:\(port)" }

    /// Sends `head` (request line and fields, without the final CRLF) plus `body` over TCP
    /// and reads the answer.
    func request(_ head: String, body: String = "", discardBody: Bool = false) async throws -> RawHTTPClient.Response {
        let port = self.port
        return try await offloaded {
            let client = try RawHTTPClient(tcpPort: port)
            try client.send(head + "\r\n" + body)
            return try client.readResponse(discardBody: discardBody)
        }
    }

    /// Sends each request (complete, body included) on one client connection — so one
    /// event loop and one upstream pool — and reads each answer in turn.
    func onOneConnection(_ requests: [String]) async throws -> [RawHTTPClient.Response] {
        let port = self.port
        return try await offloaded {
            let client = try RawHTTPClient(tcpPort: port)
            return try requests.map { request in
                try client.send(request)
                return try client.readResponse(headRequest: request.hasPrefix("HEAD "))
            }
        }
    }

    /// `GET <path>` as `onOneConnection` wants it.
    func getRequest(_ path: String) -> String { "GET \(path) HTTP/1.1\r\nHost: \(host)\r\n\r\n" }

    func get(_ path: String, extra: String = "") async throws -> RawHTTPClient.Response {
        try await request("GET \(path) HTTP/1.1\r\nHost: \(host)\r\n\(extra)")
    }
}
