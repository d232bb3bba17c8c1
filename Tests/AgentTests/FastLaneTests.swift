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

/// The fast lane and the channel path answer alike: the same requests, through two agents
/// on one upstream — one as shipped, one with the lane off — give the same status, fields in
/// the same order and the same body (the agents' own addresses aside), and the upstream
/// receives the same request heads from both.
@Suite(.timeLimit(.minutes(1))) struct FastLaneDifferentialTests {
    /// Upstream answers by case number (`/jira/case/<n>`); `base` is the upstream's own base,
    /// so links and `Location` point at it as Jira's would.
    static func reply(_ n: Int, base: String) -> ScriptedUpstream.Reply {
        let json = #"{"self":"\#(base)/rest/api/2/issue/1","escaped":"\#(base.replacingOccurrences(of: "/", with: "\\/"))/x","n":\#(n)}"#
        let big = #"{"self":"\#(base)/a","pad":""# + String(repeating: "p", count: 40_000) + #""}"#
        func fixed(_ head: String, _ body: String) -> ScriptedUpstream.Reply {
            .init("HTTP/1.1 \(head)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        }
        switch n {
        case 0: return fixed("200 OK\r\nContent-Type: application/json;charset=UTF-8\r\nX-AREQUESTID: 7", json)
        case 1: return .init("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                             + "10\r\n\(json.prefix(16))\r\n\(String(json.utf8.count - 16, radix: 16))\r\n\(json.dropFirst(16))\r\n0\r\n\r\n")
        case 2: return .init("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        case 3: return .init("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n")
        case 4: return .init("HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 12\r\n\r\n")
        case 5: return fixed("302 Found\r\nLocation: \(base)/browse/ABC-1?x=1\r\nContent-Type: text/plain", "moved")
        case 6: return fixed("301 Moved Permanently\r\nLocation: /jira/secure/Dashboard.jspa", "")
        case 7: return fixed("200 OK\r\nConnection: x-drop, keep-alive\r\nX-Drop: 1\r\nKeep-Alive: timeout=5\r\nSet-Cookie: JSESSIONID=s\r\n"
                             + "Proxy-Authenticate: Basic\r\nX-Keep: 2\r\nContent-Type: text/plain", "fields")
        case 8: return .init("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n\r\n\(json)")
        case 9: return fixed("200 OK\r\nContent-Type: application/json", big)
        case 10: return fixed("200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip", "not-really-gzip \(base)")
        case 11: return fixed("500 Server Error\r\nContent-Type: application/json", #"{"errorMessages":["boom"]}"#)
        case 12: return .init("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end", close: true)
        case 13: return .init("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 5\r\n\r\nclose", close: true)
        case 14: return fixed("200 OK\r\nContent-Type: application/json", "")
        case 15: return fixed("401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"jira\"\r\nContent-Type: application/json", #"{"no":1}"#)
        default: return fixed("404 Not Found\r\nContent-Type: text/plain", "no case \(n)")
        }
    }

    static let cases = 0...16

    @Test func bothPathsAnswerAlike() async throws {
        let upstream = try ScriptedUpstream { request in
            let target = request.head.split(separator: " ")[1]
            let n = Int(target.split(separator: "/").last?.split(separator: "?").first ?? "") ?? -1
            return Self.reply(n, base: "http://\(request.header("host") ?? "")/jira")
        }
        defer { upstream.stop() }
        let lane = try await ProxyHarness.start(jiraURL: "\(upstream.baseURL)/jira")
        let channels = try await ProxyHarness.start(proxy: ProxyConfiguration(fastLane: false), jiraURL: "\(upstream.baseURL)/jira")
        defer { Task { await lane.stop(); await channels.stop() } }
        let fields = "Accept: application/json\r\nUser-Agent: diff/1\r\nCookie: a=b\r\nAuthorization: Basic eDp5\r\n"
            + "Connection: keep-alive, X-Gone\r\nX-Gone: 1\r\nX-Keep: 2\r\n"
        func ask(_ h: ProxyHarness, _ n: Int) async throws -> RawHTTPClient.Response {
            try await h.request("GET /jira/acme/case/\(n)?q=\(n)&r=%20 HTTP/1.1\r\nHost: \(h.host)\r\n\(fields)")
        }
        for n in Self.cases {
            let before = upstream.received.count
            var a = try await ask(lane, n)
            let laneHead = upstream.received.dropFirst(before).map(\.head)
            let middle = upstream.received.count
            var b = try await ask(channels, n)
            let channelHead = upstream.received.dropFirst(middle).map(\.head)
            // The agents' own bases differ by port only.
            a.normalize(host: lane.host)
            b.normalize(host: channels.host)
            #expect(a.status == b.status, "case \(n)")
            #expect(a.headers.map { "\($0.name): \($0.value)" } == b.headers.map { "\($0.name): \($0.value)" }, "case \(n)")
            #expect(a.body == b.body, "case \(n): \(a.text.prefix(200)) vs \(b.text.prefix(200))")
            #expect(laneHead == channelHead && laneHead.count == 1, "case \(n): the upstream got \(laneHead) and \(channelHead)")
        }
        let counts = try #require(lane.server.fastLane).counts
        #expect(counts.served == Self.cases.count && counts.handedOff == 0, "\(counts): every case on the lane")
    }
}

extension RawHTTPClient.Response {
    /// The agent's own address (in rewritten links and `Location`) replaced by `AGENT`.
    mutating func normalize(host: String) {
        body = Array(text.replacingOccurrences(of: host, with: "AGENT").utf8)
        headers = headers.map { ($0.name, $0.value.replacingOccurrences(of: host, with: "AGENT")) }
    }
}

/// The fast lane's output queue: order kept across partial writes, and small slices of
/// receive buffers copied while answers back up, so queued bytes do not pin whole buffers.
@Suite struct OutputQueueTests {
    @Test func smallSlicesOfLargeBuffersAreCopiedWhileBackedUp() {
        var queue = OutputQueue()
        var receive = ByteBufferAllocator().buffer(capacity: 16 * 1024)
        receive.writeBytes(Array(repeating: UInt8(ascii: "a"), count: 10_000))
        queue.append(ByteBuffer(string: "head"))
        for i in 0..<5_000 {
            queue.append(receive.getSlice(at: i, length: 1)!)
        }
        #expect(queue.bytes == 5_004)
        #expect(queue.buffers.count == 2, "\(queue.buffers.count) buffers for 5,000 one-byte slices")
        #expect(queue.buffers.allSatisfy { $0.storageCapacity <= OutputQueue.tailCapacity })
        // A large piece, or any piece into an empty queue, is kept as it is (no copy).
        var fresh = OutputQueue()
        fresh.append(receive.getSlice(at: 0, length: 1)!)
        fresh.append(receive.getSlice(at: 0, length: 9_000)!)
        #expect(fresh.buffers.map(\.readableBytes) == [1, 9_000])
    }

    @Test func everythingArrivesInOrderThroughPartialWrites() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        var size: Int32 = 4096
        setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, 4)
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        var expected: [UInt8] = []
        var queue = OutputQueue()
        var receive = ByteBufferAllocator().buffer(capacity: 16 * 1024)
        receive.writeBytes((0..<16_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        for i in 0..<300 {
            // Pieces of 1 to 3,000 bytes: some copied, some kept, more than 64 per write.
            let length = [1, 17, 3_000, 2][i % 4]
            let piece = receive.getSlice(at: (i * 31) % 12_000, length: length)!
            expected += piece.readableBytesView
            queue.append(piece)
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1_000)
        while !queue.isEmpty || received.count < expected.count {
            let flushed = queue.flush(to: fds[0])
            #expect(flushed)
            let n = read(fds[1], &chunk, chunk.count)
            if n > 0 { received += chunk[0..<n] }
        }
        #expect(received == expected)
        #expect(queue.bytes == 0)
    }
}
