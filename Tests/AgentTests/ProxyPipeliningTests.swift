import Foundation
import NIOCore
import Testing
import TestSupport
@testable import Agent

/// Several requests on one client connection, sent before any answer is read (pipelining,
/// RFC 9112 §9.3.2): the agent reads one request at a time from its parser, answers in
/// order, stops where the client said the connection ends, and neither hangs nor buffers
/// without bound.
@Suite(.timeLimit(.minutes(1))) struct ProxyPipeliningTests {
    /// Sends `text` in one write, then reads `count` answers in order (`heads` says which of
    /// them answer a HEAD) and, with `expectClose`, whether the agent then closed the connection.
    static func exchange(_ h: ProxyHarness, _ text: String, count: Int, heads: Set<Int> = [], expectClose: Bool = false)
        async throws -> (responses: [RawHTTPClient.Response], closed: Bool) {
        let port = h.port
        return try await offloaded {
            let client = try RawHTTPClient(tcpPort: port)
            try client.send(text)
            let responses = try (0..<count).map { try client.readResponse(headRequest: heads.contains($0)) }
            // (Waits for the agent to close: only asked where it must.)
            return (responses, expectClose && client.isClosedByPeer())
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let h = try await ProxyHarness.start { request in
            .json(#"{"uri":"\#(request.uri)","body":\#(request.body.count)}"#)
        }
        defer { Task { await h.stop() } }
        let host = h.host
        let text = "GET /jira/acme/one HTTP/1.1\r\nHost: \(host)\r\n\r\n"
            + "POST /jira/acme/two HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 5\r\n\r\nhello"
            + "GET /nowhere HTTP/1.1\r\nHost: \(host)\r\n\r\n"
            + "PUT /jira/acme/four HTTP/1.1\r\nHost: \(host)\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            + "HEAD /jira/acme/five HTTP/1.1\r\nHost: \(host)\r\n\r\n"
            + "GET /jira/acme/six HTTP/1.1\r\nHost: \(host)\r\n\r\n"
        let (responses, _) = try await Self.exchange(h, text, count: 6, heads: [4])
        #expect(responses.map(\.status) == [200, 200, 404, 200, 200, 200])
        #expect(responses[0].text.contains("/jira/one") && responses[1].text.contains(#""body":5"#))
        #expect(responses[3].text.contains(#""body":3"#) && responses[5].text.contains("/jira/six"))
        #expect(responses[4].body.isEmpty, "a HEAD answer has no body")
        #expect(h.upstream.requests.map(\.uri) == ["/jira/one", "/jira/two", "/jira/four", "/jira/five", "/jira/six"])
    }

    /// RFC 9112 §9.6: after `Connection: close` (or an HTTP/1.0 request without keep-alive)
    /// no further request on the connection is read — also when the agent answers it itself.
    @Test(arguments: [
        "GET /nowhere HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n",
        "GET /nowhere HTTP/1.0\r\n\r\n",
        "GET /jira/acme/first HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n",
    ])
    func nothingIsReadAfterTheLastRequest(_ first: String) async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        let text = first.replacingOccurrences(of: "HOST", with: h.host)
            + "GET /jira/acme/smuggled HTTP/1.1\r\nHost: \(h.host)\r\n\r\n"
        let (responses, closed) = try await Self.exchange(h, text, count: 1, expectClose: true)
        #expect(responses[0].header("Connection")?.lowercased() == "close")
        #expect(closed, "the connection ends with the last request's answer")
        #expect(!h.upstream.requests.contains { $0.uri.contains("smuggled") }, "a request after the last one was forwarded")
    }

    /// A request the agent answered after waiting for its token (here: no token, not
    /// interactive) leaves the connection reading: the next request is answered at once,
    /// not after the idle timeout.
    @Test func theNextRequestIsReadAfterAnAnswerInsteadOfATokenOrAConnection() async throws {
        let h = try await ProxyHarness.start(tokens: FakeTokenProvider(), proxy: ProxyConfiguration(interactive: false))
        defer { Task { await h.stop() } }
        let started = ContinuousClock.now
        let responses = try await h.onOneConnection([
            h.getRequest("/jira/acme/one"),   // 401: no token
            h.getRequest("/jira/other/two"),  // 401 as well (the same token wait)
            h.getRequest("/nowhere"),
        ])
        #expect(responses.map(\.status) == [401, 401, 404])
        #expect(ContinuousClock.now - started < .seconds(10), "the connection waited for a timeout")
    }

    /// A 505 after a HEAD on the same connection carries its body: the earlier request's
    /// method does not decide how the agent's next answer is framed.
    @Test func anAnswerAfterAHEADHasItsBody() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        let text = "HEAD /nowhere HTTP/1.1\r\nHost: \(h.host)\r\n\r\nGET /jira/acme/x HTTP/2.0\r\nHost: \(h.host)\r\n\r\n"
        let (responses, _) = try await Self.exchange(h, text, count: 2, heads: [0])
        #expect(responses.map(\.status) == [404, 505])
        #expect(responses[1].text.contains(#""error""#))
    }

    /// The whole answer reaches a client that sent `Connection: close` and reads slowly:
    /// the agent closes after its writes have gone out, not over them. The answer is larger
    /// than the most the kernel holds for it (the agent's send buffer at its maximum,
    /// `tcp_wmem`, plus the client's 64 KiB receive buffer), so part of it is still in the
    /// agent when it decides to close.
    @Test func aSlowReaderGetsAllOfTheLastAnswer() async throws {
        let receiveBuffer = 64 << 10
        let size = Self.maxSendBuffer() + (1 << 20)
        let h = try await ProxyHarness.start { _ in .json(String(repeating: "x", count: size)) }
        defer { Task { await h.stop() } }
        let port = h.port, host = h.host
        let (arrived, response) = try await offloaded { () -> (Bool, RawHTTPClient.Response) in
            let client = try RawHTTPClient(tcpPort: port, receiveBuffer: receiveBuffer)
            try client.send("GET /jira/acme/big HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
            // The answer has started (the agent holds the rest); the reader is slow to take it.
            let arrived = client.waitUntilReadable(timeout: 30)
            Thread.sleep(forTimeInterval: 0.5)
            return (arrived, try client.readResponse())
        }
        #expect(arrived)
        #expect(response.status == 200)
        #expect(response.body.count == size, "the answer was cut at \(response.body.count) bytes")
    }

    /// The largest send buffer the kernel grows a TCP socket to (the third field of
    /// `tcp_wmem`; 4 MiB where it cannot be read).
    static func maxSendBuffer() -> Int {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_wmem", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: \.isWhitespace).last.flatMap { Int($0) } ?? (4 << 20)
    }

    /// A request read from the parser after the one before it was answered — no read, so no
    /// `channelReadComplete` to flush — still has its body sent: a pipelined upload behind a
    /// slow answer, on a connection whose earlier upload has grown NIO's read size, so that
    /// more of the body than the upstream channel's high watermark waits in the parser.
    @Test func aPipelinedUploadBehindASlowAnswerIsSent() async throws {
        let upstream = try ScriptedUpstream { request in
            request.head.hasPrefix("GET ")
                ? .init(pieces: ["HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", "slow"], pause: 0.5)
                : .init("HTTP/1.1 201 Created\r\nContent-Length: \(String(request.body.count).utf8.count)\r\n\r\n\(request.body.count)")
        }
        defer { upstream.stop() }
        let h = try await ProxyHarness.start(jiraURL: "\(upstream.baseURL)/jira")
        defer { Task { await h.stop() } }
        let port = h.port, host = h.host
        let body = String(repeating: "u", count: 1 << 20)
        let upload = "POST /jira/acme/upload HTTP/1.1\r\nHost: \(host)\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        let started = ContinuousClock.now
        let responses = try await offloaded { () -> [RawHTTPClient.Response] in
            let client = try RawHTTPClient(tcpPort: port)
            try client.send(upload)
            let first = try client.readResponse()
            try client.send("GET /jira/acme/slow HTTP/1.1\r\nHost: \(host)\r\n\r\n" + upload)
            return [first, try client.readResponse(), try client.readResponse()]
        }
        #expect(responses.map(\.status) == [201, 200, 201])
        #expect(responses[2].text == String(body.utf8.count), "the upstream received \(responses[2].text) bytes")
        #expect(ContinuousClock.now - started < .seconds(10), "the upload waited for a timeout")
    }

    /// After the last answer the agent reads and drops what the client still sends, also
    /// when a pipelined request had paused its reading: a client that writes a large upload
    /// behind its `Connection: close` request before reading is not left blocked.
    @Test func whatFollowsTheLastRequestIsReadAndDropped() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        let port = h.port, host = h.host
        let (response, closed) = try await offloaded { () -> (RawHTTPClient.Response, Bool) in
            let client = try RawHTTPClient(tcpPort: port)
            try client.send("GET /nowhere HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n"
                + "POST /jira/acme/x HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 16777216\r\n\r\n")
            try client.send([UInt8](repeating: UInt8(ascii: "u"), count: 16 << 20))
            return (try client.readResponse(), client.isClosedByPeer())
        }
        #expect(response.status == 404 && closed)
        #expect(h.upstream.requests.isEmpty)
    }

    /// Graceful shutdown does not wait for an idle kept-alive connection (closed at once,
    /// however long the grace period: 45 s here), and keeps its grace period (2 s here) for
    /// one that lingers after its last answer — the client neither reads further nor closes —
    /// instead of the minute (`stallTimeout`) the lingering close would otherwise last.
    @Test(arguments: [("", 45), ("Connection: close\r\n", 2)])
    func shutdownDoesNotWaitForIdleOrLingeringConnections(_ extra: String, grace: Int64) async throws {
        let h = try await ProxyHarness.start(shutdownGracePeriod: .seconds(grace))
        // (Blocking calls on this task: one short exchange.)
        let client = try RawHTTPClient(tcpPort: h.port)
        try client.send("GET /nowhere HTTP/1.1\r\nHost: \(h.host)\r\n\(extra)\r\n")
        _ = try client.readResponse()
        let started = ContinuousClock.now
        await h.stop()
        let waited = ContinuousClock.now - started
        if extra.isEmpty {
            #expect(waited < .seconds(30), "shutdown waited \(waited) for an idle connection")
        } else {
            #expect(waited >= .seconds(grace) && waited < .seconds(30), "shutdown waited \(waited), not the grace period")
        }
        withExtendedLifetime(client) {}
    }
}
