import Foundation
import Logging
import NIOCore
import Testing
import TestSupport
@testable import Agent

/// The proxy frames each message itself (no NIO codec between it and the sockets): against
/// an upstream that answers chunked, close-delimited, malformed or with bytes to spare, the
/// client gets a correctly framed response and the connections are reused only when that is
/// safe.
@Suite("Proxy framing", .timeLimit(.minutes(1)))
struct ProxyFramingTests {
    /// A harness whose `acme` connection goes to `upstream` (context path `/jira`).
    static func start(proxy: ProxyConfiguration = ProxyConfiguration(),
                      _ reply: @escaping @Sendable (ScriptedUpstream.Request) -> ScriptedUpstream.Reply) async throws
        -> (ProxyHarness, ScriptedUpstream) {
        let upstream = try ScriptedUpstream(reply: reply)
        let h = try await ProxyHarness.start(proxy: proxy, jiraURL: "\(upstream.baseURL)/jira")
        return (h, upstream)
    }

    static func chunked(_ parts: [String], type: String) -> String {
        "HTTP/1.1 200 OK\r\nContent-Type: \(type)\r\nTransfer-Encoding: chunked\r\nX-Up: 1\r\n\r\n"
            + parts.map { "\(String($0.utf8.count, radix: 16))\r\n\($0)\r\n" }.joined() + "0\r\n\r\n"
    }

    /// The upstream sees the agent's framing: one `Content-Length`, the number itself, also
    /// when the client repeated it, wrote it with leading zeros or as a list (RFC 9110 §8.6).
    @Test(arguments: ["Content-Length: 005\r\ncontent-length: 5\r\n", "Content-Length: 5, 5\r\n"])
    func theUpstreamGetsOneContentLengthOfTheAgents(_ lengthFields: String) async throws {
        let (h, upstream) = try await Self.start { _ in .init("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") }
        defer { upstream.stop() }
        let r = try await h.request("POST /jira/acme/x HTTP/1.1\r\nHost: \(h.host)\r\n\(lengthFields)", body: "hello")
        await h.stop()
        #expect(r.status == 200)
        let lengths = (upstream.received.first?.head ?? "").components(separatedBy: "\r\n")
            .filter { $0.lowercased().hasPrefix("content-length:") }
        #expect(lengths == ["Content-Length: 5"])
        #expect(upstream.received.first?.body == Array("hello".utf8))
    }

    /// Also around the size up to which the body is written into its head's buffer (16 KiB)
    /// and above it (head and body written separately).
    @Test(arguments: [0, 16 * 1024 - 120, 40 * 1024])
    func chunkedJSONIsRewrittenAndSentWithALength(_ padding: Int) async throws {
        let upstreamBox = Box<String>()
        let pad = String(repeating: "p", count: padding)
        let (h, upstream) = try await Self.start { _ in
            let base = upstreamBox.value!
            return .init(Self.chunked([#"{"self":"\#(base)/jira/rest/"#, #"api/2/issue/1","n":1,"pad":"\#(pad)"}"#], type: "application/json"))
        }
        upstreamBox.value = upstream.baseURL
        defer { upstream.stop() }
        let r = try await h.get("/jira/acme/rest/api/2/issue/1")
        await h.stop()
        #expect(r.status == 200)
        #expect(r.text == #"{"self":"http://\#(h.host)/jira/acme/rest/api/2/issue/1","n":1,"pad":"\#(pad)"}"#)
        #expect(r.header("content-length") == String(r.body.count))
        #expect(r.header("transfer-encoding") == nil)
        #expect(r.header("x-up") == "1")
    }

    @Test func chunkedStreamStaysChunkedForHTTP11AndEndsWithTheConnectionForHTTP10() async throws {
        let (h, upstream) = try await Self.start { _ in .init(Self.chunked(["abc", "defgh"], type: "application/octet-stream")) }
        defer { upstream.stop() }
        let port = h.port, host = h.host
        let current = try await h.onOneConnection([h.getRequest("/jira/acme/a"), h.getRequest("/jira/acme/b")])
        let (old, closed) = try await offloaded { () -> (RawHTTPClient.Response, Bool) in
            let client10 = try RawHTTPClient(tcpPort: port)
            try client10.send("GET /jira/acme/c HTTP/1.0\r\nHost: \(host)\r\nConnection: keep-alive\r\n\r\n")
            let old = try client10.readResponse()  // no length: reads to the end of the connection
            return (old, client10.isClosedByPeer())
        }
        await h.stop()
        for r in current {
            #expect(r.status == 200 && r.text == "abcdefgh")
            #expect(r.header("transfer-encoding") == "chunked" && r.header("content-length") == nil)
        }
        #expect(old.status == 200 && old.text == "abcdefgh" && closed)
        #expect(old.header("transfer-encoding") == nil && old.header("connection") == "close")
        // (Pools are per event loop; the two client connections may be on different loops.)
        let received = upstream.received
        #expect(received.count == 3 && received[0].connection == received[1].connection,
                "a complete chunked response leaves the upstream connection reusable")
    }

    @Test func closeDelimitedUpstreamResponseIsNotReusedAndReachesTheClientWhole() async throws {
        let (h, upstream) = try await Self.start { _ in .init("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", close: true) }
        defer { upstream.stop() }
        let responses = try await h.onOneConnection([h.getRequest("/jira/acme/x"), h.getRequest("/jira/acme/x")])
        await h.stop()
        for r in responses {
            #expect(r.status == 200 && r.text == "all of it" && r.header("transfer-encoding") == "chunked")
        }
        #expect(upstream.connections == 2)
    }

    @Test func headKeepsTheLengthSendsNoBodyAndLeavesBothConnectionsUsable() async throws {
        let (h, upstream) = try await Self.start { request in
            request.head.hasPrefix("HEAD")
                ? .init("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n")
                : .init("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
        }
        defer { upstream.stop() }
        let r = try await h.onOneConnection(["HEAD /jira/acme/x HTTP/1.1\r\nHost: \(h.host)\r\n\r\n", h.getRequest("/jira/acme/y")])
        let (head, get) = (r[0], r[1])
        await h.stop()
        #expect(head.status == 200 && head.header("content-length") == "500")
        #expect(get.status == 200 && get.text == "ok", "no body bytes were sent after the HEAD response")
        #expect(upstream.received.map(\.connection) == [1, 1])
    }

    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nX-Split: a\rSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        "not http at all\r\n\r\n",
    ])
    func ambiguousUpstreamResponseIs502(_ reply: String) async throws {
        let (h, upstream) = try await Self.start { _ in .init(reply) }
        defer { upstream.stop() }
        let r = try await h.get("/jira/acme/x")
        await h.stop()
        #expect(r.status == 502)
        #expect(r.text.contains("upstream_failed"))
        #expect(r.header("set-cookie") == nil)
    }

    @Test func bytesAfterAResponseKeepThatConnectionOutOfThePool() async throws {
        let (h, upstream) = try await Self.start { _ in .init("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n") }
        defer { upstream.stop() }
        let r = try await h.onOneConnection([h.getRequest("/jira/acme/a"), h.getRequest("/jira/acme/b")])
        let (first, second) = (r[0], r[1])
        await h.stop()
        #expect(first.status == 200 && first.text == "ok")
        #expect(second.status == 200 && second.text == "ok", "the stray bytes were not read as the second answer")
        #expect(upstream.received.map(\.connection) == [1, 2])
    }

    @Test func chunkedRequestBodyGoesUpstreamChunked() async throws {
        let (h, upstream) = try await Self.start { _ in .init("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n") }
        defer { upstream.stop() }
        let r = try await h.request("POST /jira/acme/rest/api/2/issue HTTP/1.1\r\nHost: \(h.host)\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n",
                                    body: "4\r\n{\"a\"\r\n6\r\n: 1234\r\n1\r\n}\r\n0\r\n\r\n")
        await h.stop()
        #expect(r.status == 201)
        let seen = try #require(upstream.received.first)
        #expect(seen.head.hasPrefix("POST /jira/rest/api/2/issue HTTP/1.1\r\n"))
        #expect(seen.header("transfer-encoding") == "chunked" && seen.header("content-length") == nil)
        #expect(String(decoding: seen.body, as: UTF8.self) == "{\"a\": 1234}")
        #expect(seen.header("authorization") == "Bearer tok-acme")
    }

    /// `Connection: content-length` must not strip the framing: the body would otherwise be
    /// read upstream as the start of the next (token-carrying) request.
    @Test func connectionCannotNameTheFramingAway() async throws {
        let (h, upstream) = try await Self.start { _ in .init("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n") }
        defer { upstream.stop() }
        let smuggled = "GET /other-app/secret HTTP/1.1\r\nX: "
        let r = try await h.onOneConnection([
            "POST /jira/acme/rest/x HTTP/1.1\r\nHost: \(h.host)\r\nConnection: content-length\r\nContent-Length: \(smuggled.utf8.count)\r\n\r\n\(smuggled)",
            h.getRequest("/jira/acme/rest/y"),
        ])
        let (first, second) = (r[0], r[1])
        await h.stop()
        #expect(first.status == 201 && second.status == 201)
        let received = upstream.received
        #expect(received.map { $0.head.components(separatedBy: "\r\n")[0] } == ["POST /jira/rest/x HTTP/1.1", "GET /jira/rest/y HTTP/1.1"])
        #expect(received.first?.header("content-length") == String(smuggled.utf8.count))
        #expect(received.first.map { String(decoding: $0.body, as: UTF8.self) } == smuggled)
    }

    /// 103 Early Hints every 0.3 s, or a head trickled byte by byte, is no answer: the
    /// client gets 504 after `upstreamResponseTimeout`, not the final response a minute later
    /// (the upstream keeps it coming for 60 s, so the 504 alone shows the timeout fired).
    @Test(arguments: [
        ScriptedUpstream.Reply(pieces: Array(repeating: "HTTP/1.1 103 Early Hints\r\n\r\n", count: 200)
            + ["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], pause: 0.3),
        ScriptedUpstream.Reply(pieces: ("HTTP/1.1 200 OK\r\nX-Pad: " + String(repeating: "p", count: 580)
            + "\r\nContent-Length: 2\r\n\r\nok").map { String($0) }, pause: 0.1),
    ])
    func informationalOrTrickledHeadsDoNotHoldOffTheTimeout(_ reply: ScriptedUpstream.Reply) async throws {
        var c = ProxyConfiguration()
        c.upstreamResponseTimeout = .seconds(1)  // shorter than clientIdleTimeout (60 s)
        let (h, upstream) = try await Self.start(proxy: c) { _ in reply }
        defer { upstream.stop() }
        let started = ContinuousClock.now
        let r = try await h.get("/jira/acme/slow")
        let waited = ContinuousClock.now - started
        await h.stop()
        #expect(r.status == 504 && r.text.contains("upstream_timeout"))
        #expect(waited >= .seconds(1) && waited < .seconds(30), "waited \(waited)")
    }

    /// A response cut short means the server has the request: it is not sent again, even on
    /// a pooled connection (where a connection closed before any answer is retried).
    @Test func truncatedResponseIsNotReplayed() async throws {
        let (h, upstream) = try await Self.start { request in
            request.head.hasPrefix("GET /jira/first")
                ? .init("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                : .init("HTTP/1.1 200 OK\r\nContent-Len", close: true)
        }
        defer { upstream.stop() }
        let r = try await h.onOneConnection([
            h.getRequest("/jira/acme/first"),
            "POST /jira/acme/second HTTP/1.1\r\nHost: \(h.host)\r\nContent-Length: 2\r\n\r\nhi",
        ])
        let (first, second) = (r[0], r[1])
        await h.stop()
        #expect(first.status == 200)
        #expect(second.status == 502 && second.text.contains("upstream_failed"))
        #expect(upstream.received.count == 2, "the POST reached the server once")
    }

    /// Each client connection keeps where its last route name led while the catalog is
    /// unchanged; a reload (SIGHUP) that moves the connection is followed at once, also on a
    /// connection kept alive across it.
    @Test func aReloadedCatalogIsFollowedOnAKeptAliveConnection() async throws {
        let r = try await Reloadable.start(tokens: FakeTokenProvider(tokens: ["acme": "tok-acme"]))
        let port = r.port, host = "127.0.0.1:\(r.port)", current = r.current
        let reloaded = r.catalog(r.b)
        let (before, after) = try await offloaded { () -> ([String], String) in
            let client = try RawHTTPClient(tcpPort: port)
            func get() throws -> String {
                try client.send("GET /jira/acme/x HTTP/1.1\r\nHost: \(host)\r\n\r\n")
                return try client.readResponse().text
            }
            let before = [try get(), try get()]
            current.value = reloaded
            return (before, try get())
        }
        await r.stop()
        #expect(before == ["a", "a"] && after == "b")
    }

    /// A request that waited for its token while the catalog moved the connection to other
    /// servers is refused: the token now comes from the new configuration's session and
    /// must not go to the old servers (nor the request to the new ones unasked).
    @Test func aReloadDuringTheTokenWaitIsRefusedNotSentAnywhere() async throws {
        let gate = TokenGate()
        let r = try await Reloadable.start(tokens: FakeTokenProvider(tokens: ["acme": "tok-acme"], gate: gate))
        let port = r.port, current = r.current
        let reloaded = r.catalog(r.b)
        let (entered, response) = try await offloaded { () -> (Bool, RawHTTPClient.Response) in
            defer { gate.release() }
            let client = try RawHTTPClient(tcpPort: port)
            try client.send("GET /jira/acme/x HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n")
            let entered = gate.waitUntilEntered(timeout: 30)  // the request now waits for its token
            current.value = reloaded
            gate.release()
            return (entered, try client.readResponse())
        }
        await r.stop()
        #expect(entered, "the request never asked for its token")
        #expect(response.status == 503 && response.text.contains("configuration_changed"))
        #expect(r.a.received.isEmpty && r.b.received.isEmpty)
    }

    /// An upstream that answers before the upload is complete (a refusal): the client is
    /// told the connection closes, and it does.
    @Test func anAnswerBeforeTheRequestEndsClosesTheConnectionAndSaysSo() async throws {
        let upstream = try ScriptedUpstream(readsBodies: false) { _ in .init("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n") }
        defer { upstream.stop() }
        let h = try await ProxyHarness.start(jiraURL: "\(upstream.baseURL)/jira")
        let port = h.port, host = h.host
        let (response, closed) = try await offloaded { () -> (RawHTTPClient.Response, Bool) in
            let client = try RawHTTPClient(tcpPort: port)
            try client.send("POST /jira/acme/rest/api/2/attachment HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 100000\r\n\r\nfirst part")
            let response = try client.readResponse()
            return (response, client.isClosedByPeer())
        }
        await h.stop()
        #expect(response.status == 413 && response.header("connection") == "close" && closed)
    }

    @Test func bodilessPostIsSentWithAZeroLength() async throws {
        let (h, upstream) = try await Self.start { _ in .init("HTTP/1.1 204 No Content\r\n\r\n") }
        defer { upstream.stop() }
        let r = try await h.request("POST /jira/acme/rest/api/2/issue/1/watchers HTTP/1.1\r\nHost: \(h.host)\r\n")
        await h.stop()
        #expect(r.status == 204 && r.header("content-length") == nil && r.header("transfer-encoding") == nil)
        #expect(upstream.received.first?.header("content-length") == "0")
    }
}

/// Two upstreams answering `a` and `b`, and an agent whose catalog (`current`) sends `acme`
/// to one of them; setting `current` moves it, as a SIGHUP reload does.
struct Reloadable {
    let a: ScriptedUpstream
    let b: ScriptedUpstream
    let current: Box<ConnectionCatalog>
    let server: AgentServer
    let port: Int

    static func start(tokens: FakeTokenProvider) async throws -> Reloadable {
        let a = try ScriptedUpstream { _ in .init("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na") }
        let b = try ScriptedUpstream { _ in .init("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb") }
        let current = Box<ConnectionCatalog>()
        current.value = catalog(a)
        let server = AgentServer(configuration: .init(tcpPort: 0), catalog: { current.value! },
                                 tokens: tokens, api: nil, logger: Logger(label: "test"))
        let port = try await server.start().tcpPort!
        return Reloadable(a: a, b: b, current: current, server: server, port: port)
    }

    static func catalog(_ upstream: ScriptedUpstream) -> ConnectionCatalog {
        ConnectionCatalog(connections: [Connection(id: "acme", jiraURL: URL(string: upstream.baseURL)!, clientID: "c", isDefault: true)])
    }

    func catalog(_ upstream: ScriptedUpstream) -> ConnectionCatalog { Self.catalog(upstream) }

    func stop() async {
        await server.shutdown()
        a.stop()
        b.stop()
    }
}

/// A value set once after the closure that reads it was created.
final class Box<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T?
    var value: T? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
