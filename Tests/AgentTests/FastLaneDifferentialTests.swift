import Foundation
import NIOCore
import Testing
import TestSupport
@testable import Agent

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

/// Random pipelined mixes of requests the lane serves and requests that move it, sent in
/// random pieces, through the agent as shipped and with the lane off: the same answers in
/// the same order. The move between the two paths happens at every kind of boundary here.
@Suite(.timeLimit(.minutes(2))) struct FastLaneBoundaryTests {
    /// A request of kind `kind` (the lane serves 0–1; the others move the connection), and
    /// whether it is a HEAD and whether it ends the connection.
    static func request(_ kind: Int, _ i: Int, host: String) -> (text: String, head: Bool, last: Bool) {
        switch kind {
        case 0: return ("GET /jira/acme/get?i=\(i) HTTP/1.1\r\nHost: \(host)\r\n\r\n", false, false)
        case 1: return ("GET /jira/design/zero?i=\(i) HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 0\r\nAccept: */*\r\n\r\n", false, false)
        case 2: return ("POST /jira/acme/post?i=\(i) HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 5\r\n\r\nhello", false, false)
        case 3: return ("HEAD /jira/acme/head?i=\(i) HTTP/1.1\r\nHost: \(host)\r\n\r\n", true, false)
        case 4: return ("GET /nowhere?i=\(i) HTTP/1.1\r\nHost: \(host)\r\n\r\n", false, false)
        case 5: return ("GET /jira/acme/evil?i=\(i) HTTP/1.1\r\nHost: evil.example\r\n\r\n", false, false)
        case 6: return ("PUT /jira/acme/chunked?i=\(i) HTTP/1.1\r\nHost: \(host)\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false, false)
        default: return ("GET /jira/acme/last?i=\(i) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n", false, true)
        }
    }

    /// Sends the sequence in random pieces and reads every answer.
    static func run(_ h: ProxyHarness, kinds: [Int], seed: UInt64) async throws -> [RawHTTPClient.Response] {
        let port = h.port, host = h.host
        return try await offloaded {
            var random = SplitMix(seed: seed)
            var requests = kinds.enumerated().map { request($0.element, $0.offset, host: host) }
            if let end = requests.firstIndex(where: \.last) { requests = Array(requests[...end]) }
            let bytes = Array(requests.map(\.text).joined().utf8)
            let client = try RawHTTPClient(tcpPort: port)
            var at = 0
            while at < bytes.count {
                let n = min(bytes.count - at, Int.random(in: 1...120, using: &random))
                try client.send(Array(bytes[at..<at + n]))
                at += n
                if Int.random(in: 0..<4, using: &random) == 0 { Thread.sleep(forTimeInterval: 0.002) }
            }
            return try requests.map { try client.readResponse(headRequest: $0.head) }
        }
    }

    @Test func randomMixesAnswerAlikeOnBothPaths() async throws {
        let echo: @Sendable (RecordingUpstream.Request) -> RecordingUpstream.Reply = { request in
            .json(#"{"method":"\#(request.method)","uri":"\#(request.uri)","body":\#(request.bodySize)}"#)
        }
        let lane = try await ProxyHarness.start(reply: echo)
        let channels = try await ProxyHarness.start(proxy: ProxyConfiguration(fastLane: false), reply: echo)
        defer { Task { await lane.stop(); await channels.stop() } }
        var random = SplitMix(seed: 42)  // the sequences are the same in every run
        for sequence in 0..<40 {
            let kinds = (0..<Int.random(in: 1...7, using: &random)).map { _ in
                // Mostly requests the lane serves, so it runs several before a move.
                Int.random(in: 0..<10, using: &random) < 5 ? Int.random(in: 0...1, using: &random) : Int.random(in: 2...7, using: &random)
            }
            let seed = random.next()
            var a = try await Self.run(lane, kinds: kinds, seed: seed)
            var b = try await Self.run(channels, kinds: kinds, seed: seed)
            for i in a.indices {
                a[i].normalize(host: lane.host)
                b[i].normalize(host: channels.host)
            }
            #expect(a.map(\.status) == b.map(\.status), "sequence \(sequence) \(kinds)")
            #expect(a.map(\.text) == b.map(\.text), "sequence \(sequence) \(kinds)")
            #expect(a.map { $0.headers.map { "\($0.name): \($0.value)" } } == b.map { $0.headers.map { "\($0.name): \($0.value)" } },
                    "sequence \(sequence) \(kinds)")
        }
        let counts = try #require(lane.server.fastLane).counts
        #expect(counts.served > 20 && counts.handedOff > 10, "\(counts)")
        #expect(lane.upstream.requests.map { "\($0.method) \($0.uri) \($0.bodySize)" }
                == channels.upstream.requests.map { "\($0.method) \($0.uri) \($0.bodySize)" })
    }
}
