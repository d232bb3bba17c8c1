import Foundation
import NIOCore
import Testing
import TestSupport
@testable import Agent

/// The TCP listener's fast lane (`FastLane`): which requests it serves itself, and that every
/// other one reaches the channel path whole and in order — the other proxy suites run through
/// it too, since it owns the TCP listener.
@Suite(.timeLimit(.minutes(1))) struct FastLaneTests {
    static func echo(_ request: RecordingUpstream.Request) -> RecordingUpstream.Reply {
        .json(#"{"uri":"\#(request.uri)","body":\#(request.body.count)}"#)
    }

    @Test func commonGETsAreServedByTheLaneTheRestMoveToTheChannelPath() async throws {
        let h = try await ProxyHarness.start(reply: Self.echo)
        defer { Task { await h.stop() } }
        let lane = try #require(h.server.fastLane)
        let host = h.host

        let gets = try await h.onOneConnection([h.getRequest("/jira/acme/a"), h.getRequest("/jira/default/b?x=1")])
        #expect(gets.map(\.status) == [200, 200])
        #expect(gets[1].text.contains(#""uri":"/jira/b?x=1""#))
        #expect(lane.counts.served == 2 && lane.counts.handedOff == 0)
        #expect(h.upstream.requests.map { $0.header("authorization") } == ["Bearer tok-acme", "Bearer tok-acme"])

        // A GET, a POST, a GET on one connection: the lane serves the first; the connection
        // moves at the POST and stays on the channel path.
        let mixed = try await h.onOneConnection([
            h.getRequest("/jira/acme/c"),
            "POST /jira/acme/d HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 5\r\n\r\nhello",
            h.getRequest("/jira/acme/e"),
        ])
        #expect(mixed.map(\.status) == [200, 200, 200])
        #expect(mixed[1].text.contains(#""body":5"#) && mixed[2].text.contains("/jira/e"))
        #expect(lane.counts.served == 3 && lane.counts.handedOff == 1)

        // Each of these moves on its first request, and is answered there as before.
        let moved: [(request: String, status: Int, head: Bool)] = [
            ("HEAD /jira/acme/f HTTP/1.1\r\nHost: \(host)\r\n\r\n", 200, true),
            ("GET /jira/acme/g HTTP/1.0\r\nHost: \(host)\r\n\r\n", 200, false),
            ("GET /jira/acme/h HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n", 200, false),
            ("GET /jira/acme/i HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 2\r\n\r\nhi", 200, false),
            ("GET /jira/acme/j HTTP/1.1\r\nHost: evil.example:\(h.port)\r\n\r\n", 421, false),
            ("GET /jira/acme/../k HTTP/1.1\r\nHost: \(host)\r\n\r\n", 400, false),
            ("GET /jira/nobody/l HTTP/1.1\r\nHost: \(host)\r\n\r\n", 404, false),
            ("GET /jira/acme/m HTTP/1.1\r\nHost: \(host)\r\nOrigin: https://evil.example\r\n\r\n", 403, false),
        ]
        for (i, m) in moved.enumerated() {
            let port = h.port
            let r = try await offloaded {
                let client = try RawHTTPClient(tcpPort: port)
                try client.send(m.request)
                return try client.readResponse(headRequest: m.head)
            }
            #expect(r.status == m.status, "\(m.request.prefix(40))")
            #expect(lane.counts.handedOff == 2 + i)
        }
        #expect(lane.counts.served == 3)
        let refused: Set<String> = ["/jira/j", "/jira/k", "/k", "/jira/m"]
        #expect(h.upstream.requests.allSatisfy { !refused.contains($0.uri) }, "refused requests went nowhere")
        #expect(h.upstream.requests.count == 9)
    }

    /// A 401 `invalid_token` on the lane: the connection moves with the refused token named,
    /// so the channel path refreshes at once — one refresh, two upstream requests in all, as
    /// on the channel path alone.
    @Test func aRefusedTokenIsRefreshedOnceAndTheRequestSentOnceMore() async throws {
        let (h, tokens) = try await ProxyHarness.startRefusingOldToken()
        defer { Task { await h.stop() } }
        let lane = try #require(h.server.fastLane)
        let r = try await h.onOneConnection([h.getRequest("/jira/acme/x"), h.getRequest("/jira/acme/y")])
        #expect(r.map(\.status) == [200, 200])
        #expect(tokens.refreshCalls.map(\.rejected) == ["old"])
        #expect(h.upstream.requests.map { $0.header("authorization") ?? "" } == ["Bearer old", "Bearer new", "Bearer new"])
        #expect(lane.counts.handedOff == 1 && lane.counts.served == 0)
        // A new connection with the refreshed token stays on the lane.
        #expect(try await h.get("/jira/acme/z").status == 200)
        #expect(lane.counts.served == 1)
    }

    /// Requests read while the refused one was out move with it: the channel path gets the
    /// refused request's head and everything read after it.
    @Test func requestsReadDuringARefusedExchangeMoveWithIt() async throws {
        let tokens = FakeTokenProvider(tokens: ["acme": "old"])
        tokens.setRefreshResult("new", for: "acme")
        let upstream = try ScriptedUpstream { request in
            request.header("authorization") == "Bearer new"
                ? .init("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(request.head.split(separator: " ")[1].count)\r\n\r\n\(request.head.split(separator: " ")[1])")
                : .init(pieces: ["HTTP/1.1 401 Unauthorized\r\n", "WWW-Authenticate: Bearer error=\"invalid_token\"\r\nContent-Length: 0\r\n\r\n"], pause: 0.3)
        }
        defer { upstream.stop() }
        let h = try await ProxyHarness.start(tokens: tokens, jiraURL: "\(upstream.baseURL)/jira")
        defer { Task { await h.stop() } }
        let port = h.port, host = h.host
        let responses = try await offloaded { () -> [RawHTTPClient.Response] in
            let client = try RawHTTPClient(tcpPort: port)
            try client.send("GET /jira/acme/one HTTP/1.1\r\nHost: \(host)\r\n\r\n")
            Thread.sleep(forTimeInterval: 0.1)  // the first is out, waiting for its 401
            try client.send("GET /jira/acme/two HTTP/1.1\r\nHost: \(host)\r\n\r\nGET /jira/acme/three HTTP/1.1\r\nHost: \(host)\r\n\r\n")
            return try (0..<3).map { _ in try client.readResponse() }
        }
        #expect(responses.map(\.status) == [200, 200, 200])
        #expect(responses.map(\.text) == ["/jira/one", "/jira/two", "/jira/three"])
        #expect(tokens.refreshCalls.map(\.rejected) == ["old"])
    }

    /// A client that sends requests and does not read the answers: the lane stops taking
    /// requests once its answers back up, and serves the rest as they are read.
    @Test func unreadAnswersHoldTheNextRequests() async throws {
        let size = 1 << 20, count = 40
        let h = try await ProxyHarness.start { _ in .json(#"{"x":""# + String(repeating: "x", count: size) + #""}"#) }
        defer { Task { await h.stop() } }
        let port = h.port, host = h.host
        let upstream = h.upstream
        let (forwardedWhileUnread, responses) = try await offloaded { () -> (Int, [RawHTTPClient.Response]) in
            let client = try RawHTTPClient(tcpPort: port)
            try client.send(String(repeating: "GET /jira/acme/x HTTP/1.1\r\nHost: \(host)\r\n\r\n", count: count))
            Thread.sleep(forTimeInterval: 1)
            let forwarded = upstream.requests.count
            return (forwarded, try (0..<count).map { _ in try client.readResponse(discardBody: true) })
        }
        #expect(forwardedWhileUnread < 10, "\(forwardedWhileUnread) requests were forwarded for a client that read nothing")
        #expect(responses.count == count && responses.allSatisfy { $0.status == 200 && $0.bodySize == size + 8 })
    }

    /// Answers the lane could not write yet (the client is not reading) go out before the
    /// channel path's answer to the request that moved the connection.
    @Test func answersStillQueuedGoOutFirst() async throws {
        let size = 4 << 20
        let h = try await ProxyHarness.start { request in
            request.method == "GET" ? .json(#"{"x":""# + String(repeating: "x", count: size) + #""}"#) : Self.echo(request)
        }
        defer { Task { await h.stop() } }
        let lane = try #require(h.server.fastLane)
        let port = h.port, host = h.host
        let responses = try await offloaded { () -> [RawHTTPClient.Response] in
            let client = try RawHTTPClient(tcpPort: port)
            try client.send("GET /jira/acme/big HTTP/1.1\r\nHost: \(host)\r\n\r\n"
                + "POST /jira/acme/small HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 5\r\n\r\nhello")
            // The connection moves once the first answer is complete in the agent, most of it
            // still queued there: only then does the client read.
            let deadline = Date().addingTimeInterval(20)
            while lane.counts.handedOff == 0, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
            return [try client.readResponse(), try client.readResponse()]
        }
        #expect(responses.map(\.status) == [200, 200])
        #expect(responses[0].body.count == size + 8, "the first answer was cut at \(responses[0].body.count) bytes")
        #expect(responses[1].text.contains(#""body":5"#))
        #expect(lane.counts.withAnswersQueued == 1, "the answer was not still queued at the move: \(lane.counts)")
    }

    /// A head that trickles in is no activity: the connection is closed after
    /// `clientIdleTimeout` however slowly the bytes keep coming (slowloris).
    @Test func aTricklingHeadIsClosedAfterTheIdleLimit() async throws {
        let h = try await ProxyHarness.start(proxy: ProxyConfiguration(clientIdleTimeout: .milliseconds(400)))
        defer { Task { await h.stop() } }
        let port = h.port
        let started = ContinuousClock.now
        let closedAfter = try await offloaded { () -> Int in
            let client = try RawHTTPClient(tcpPort: port)
            for (i, byte) in Array("GET /jira/acme/x HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".utf8).enumerated() {
                do { try client.send([byte]) } catch { return i }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return -1
        }
        #expect(closedAfter > 0, "the agent kept the connection for the whole head")
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    /// A request in flight when the agent stops is finished, and says the connection ends.
    @Test func shutdownFinishesTheRequestInFlight() async throws {
        let upstream = try ScriptedUpstream { _ in
            // (The head is complete only after the stop began: it says so.)
            .init(pieces: ["HTTP/1.1 200 OK\r\n", "Content-Type: text/plain\r\nContent-Length: 4\r\n\r\ndone"], pause: 1)
        }
        defer { upstream.stop() }
        let h = try await ProxyHarness.start(jiraURL: "\(upstream.baseURL)/jira")
        let port = h.port, host = h.host
        async let response = offloaded { () -> RawHTTPClient.Response in
            let client = try RawHTTPClient(tcpPort: port)
            try client.send("GET /jira/acme/x HTTP/1.1\r\nHost: \(host)\r\n\r\n")
            return try client.readResponse()
        }
        // The stop begins once the request is at the upstream, a second before its head ends.
        while upstream.received.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        let lane = try #require(h.server.fastLane)
        await h.stop()
        let r = try await response
        #expect(r.status == 200 && r.text == "done")
        #expect(r.header("connection") == "close")
        #expect(lane.counts.served == 1)
    }

    /// With the lane off, the channel path owns the listener and serves the same request.
    @Test func theChannelPathAloneServesTheSame() async throws {
        let h = try await ProxyHarness.start(proxy: ProxyConfiguration(fastLane: false), reply: Self.echo)
        defer { Task { await h.stop() } }
        #expect(h.server.fastLane == nil)
        let r = try await h.get("/jira/acme/a")
        #expect(r.status == 200 && r.text.contains(#""uri":"/jira/a""#))
    }

    @Test func onlyNumericAddressesAreConnectedToDirectly() {
        #expect("127.0.0.1".isNumericAddress && "::1".isNumericAddress && "10.1.2.3".isNumericAddress)
        #expect(!"localhost".isNumericAddress && !"jira.example".isNumericAddress && !"127.1".isNumericAddress)
    }
}
