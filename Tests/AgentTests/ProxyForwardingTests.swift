import Agent
import Foundation
import Testing
import TestSupport

@Suite("Proxy forwarding", .timeLimit(.minutes(1)))
struct ProxyForwardingTests {
    @Test func bearerAddedCallerCredentialsAndHopByHopHeadersDropped() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        let response = try await h.get("/jira/acme/rest/api/2/myself?expand=groups", extra:
            "Authorization: Basic dXNlcjpwYXNz\r\nCookie: JSESSIONID=abc\r\nConnection: keep-alive, X-Secret\r\n"
            + "X-Secret: s3cret\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: Basic x\r\nTE: trailers\r\n"
            + "X-Kept: yes\r\nAccept-Encoding: gzip\r\nProxy-Foo: 1\r\nUpgrade: h2c\r\nTrailer: X-Kept\r\n"
            + "Proxy-Connection: keep-alive\r\nX-Spaced: \t a  b \r\n")
        #expect(response.status == 200)
        #expect(response.text == #"{"ok":true}"#)
        let seen = try #require(h.upstream.requests.first)
        #expect(seen.uri == "/jira/rest/api/2/myself?expand=groups")
        #expect(seen.header("authorization") == "Bearer tok-acme")
        #expect(seen.headers.filter { $0.name.lowercased() == "authorization" }.count == 1)
        #expect(seen.header("host") == "127.0.0.1:\(h.upstream.port)")
        for dropped in ["cookie", "x-secret", "keep-alive", "proxy-authorization", "te", "accept-encoding",
                        "proxy-foo", "upgrade", "trailer", "proxy-connection", "connection"] {
            #expect(seen.header(dropped) == nil, "\(dropped) was forwarded")
        }
        #expect(seen.header("x-kept") == "yes")
        #expect(seen.header("x-spaced") == "a  b")
    }

    @Test func defaultAndTeamNamesResolve() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        #expect(try await h.get("/jira/default/rest/api/2/serverInfo").status == 200)
        #expect(try await h.get("/jira/design/rest/api/2/serverInfo").status == 200)
        #expect(h.upstream.requests.map(\.uri) == ["/jira/rest/api/2/serverInfo", "/jira/rest/api/2/serverInfo"])
    }

    @Test func unknownConnectionIs404WithTheKnownNames() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        let response = try await h.get("/jira/nope/rest/api/2/myself")
        #expect(response.status == 404)
        #expect(response.text.contains(#""error":"unknown_connection""#))
        #expect(response.text.contains("acme"))
        #expect(h.upstream.requests.isEmpty)
    }

    @Test func notInteractiveWithoutTokenAnswers401WithLoginHint() async throws {
        let h = try await ProxyHarness.start(tokens: FakeTokenProvider(), proxy: ProxyConfiguration(interactive: false))
        defer { Task { await h.stop() } }
        let response = try await h.get("/jira/acme/rest/api/2/myself")
        #expect(response.status == 401)
        #expect(response.text.contains(#""error":"authorization_required""#))
        #expect(response.text.contains("jira-auth-agent login acme"))
        #expect(h.upstream.requests.isEmpty)
    }

    @Test func slowPathTokenIsAwaited() async throws {
        let h = try await ProxyHarness.start(tokens: FakeTokenProvider(tokens: ["acme": "late"], slowPath: .milliseconds(50)))
        defer { Task { await h.stop() } }
        #expect(try await h.get("/jira/acme/x").status == 200)
        #expect(h.upstream.requests.first?.header("authorization") == "Bearer late")
    }

    @Test func invalidTokenRejectionRefreshesOnceAndRetries() async throws {
        let (h, tokens) = try await ProxyHarness.startRefusingOldToken()
        defer { Task { await h.stop() } }
        let response = try await h.request("PUT /jira/acme/rest/api/2/issue/X-1 HTTP/1.1\r\nHost: \(h.host)\r\nContent-Type: application/json\r\nContent-Length: 11\r\n",
                                     body: #"{"a":"bcd"}"#)
        #expect(response.status == 200)
        #expect(tokens.refreshCalls.count == 1)
        #expect(tokens.refreshCalls.first?.rejected == "old")
        #expect(h.upstream.requests.count == 2)
        #expect(h.upstream.requests.last.map { String(decoding: $0.body, as: UTF8.self) } == #"{"a":"bcd"}"#)
    }

    @Test func secondRejectionIsPassedOn() async throws {
        let tokens = FakeTokenProvider(tokens: ["acme": "old"])
        tokens.setRefreshResult("also-bad", for: "acme")
        let h = try await ProxyHarness.start(tokens: tokens) { _ in
            .init(status: 401, headers: [("WWW-Authenticate", #"Bearer error="invalid_token""#)])
        }
        defer { Task { await h.stop() } }
        #expect(try await h.get("/jira/acme/x").status == 401)
        #expect(tokens.refreshCalls.count == 1)
        #expect(h.upstream.requests.count == 2)
    }

    @Test func redirectsArePassedBackNotFollowed() async throws {
        let elsewhere = try await RecordingUpstream { _ in .json("{}") }
        defer { Task { await elsewhere.stop() } }
        let h = try await ProxyHarness.start { request in
            request.uri.hasSuffix("/away")
                ? .init(status: 302, headers: [("Location", "\(elsewhere.baseURL)/steal")])
                : .init(status: 302, headers: [("Location", "http://127.0.0.1:\(request.header("host")!.split(separator: ":")[1])/jira/browse/X-1")])
        }
        defer { Task { await h.stop() } }
        let away = try await h.get("/jira/acme/away")
        #expect(away.status == 302)
        #expect(away.header("location") == "\(elsewhere.baseURL)/steal")
        #expect(elsewhere.requests.isEmpty, "the token followed a redirect")
        let home = try await h.get("/jira/acme/home")
        #expect(home.header("location") == "http://\(h.host)/jira/acme/browse/X-1")
        #expect(h.upstream.requests.count == 2)
    }

    @Test func jsonLinksAreRewrittenPlainAndEscaped() async throws {
        let h = try await ProxyHarness.start { request in
            let base = "http://127.0.0.1:\(request.header("host")!.split(separator: ":")[1])/jira"
            let escaped = base.replacingOccurrences(of: "/", with: "\\/")
            return .json(#"{"self":"\#(base)/rest/api/2/issue/1","esc":"\#(escaped)\/rest","not":"\#(base)x/y","root":"\#(base)"}"#)
        }
        defer { Task { await h.stop() } }
        let response = try await h.get("/jira/acme/rest/api/2/issue/1")
        let proxyBase = "http://\(h.host)/jira/acme"
        let upstreamBase = "\(h.upstream.baseURL)/jira"
        #expect(response.text.contains(#""self":"\#(proxyBase)/rest/api/2/issue/1""#))
        #expect(response.text.contains(#""esc":"\#(proxyBase.replacingOccurrences(of: "/", with: "\\/"))\/rest""#))
        #expect(response.text.contains(#""not":"\#(upstreamBase)x/y""#))
        #expect(response.text.contains(#""root":"\#(proxyBase)""#))
        #expect(response.header("content-length") == String(response.body.count))
    }

    @Test func linksFollowTheHostTheClientUsed() async throws {
        let h = try await ProxyHarness.start { request in
            .json(#"{"self":"http://127.0.0.1:\#(request.header("host")!.split(separator: ":")[1])/jira/rest/x"}"#)
        }
        defer { Task { await h.stop() } }
        let response = try await h.request("GET /jira/acme/rest/x HTTP/1.1\r\nHost: localhost:\(h.port)\r\n")
        #expect(response.text == #"{"self":"http://localhost:\#(h.port)/jira/acme/rest/x"}"#)
    }

    @Test func keepAliveReusesTheUpstreamConnection() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        let host = h.host, port = h.port
        let statuses = try await offloaded { () -> [Int] in
            let client = try RawHTTPClient(tcpPort: port)
            var statuses: [Int] = []
            for i in 0..<5 {
                try client.send("GET /jira/acme/n/\(i) HTTP/1.1\r\nHost: \(host)\r\n\r\n")
                statuses.append(try client.readResponse().status)
            }
            // Pipelined: both requests in one write.
            try client.send("GET /jira/acme/p/1 HTTP/1.1\r\nHost: \(host)\r\n\r\nGET /jira/acme/p/2 HTTP/1.1\r\nHost: \(host)\r\n\r\n")
            statuses.append(try client.readResponse().status)
            statuses.append(try client.readResponse().status)
            return statuses
        }
        #expect(statuses == Array(repeating: 200, count: 7))
        #expect(h.upstream.requests.map(\.uri).suffix(2) == ["/jira/p/1", "/jira/p/2"])
    }
}

@Suite("Proxy header safety", .timeLimit(.minutes(1)))
struct ProxyHeaderSafetyTests {
    /// Outbound header validation is off for speed; the bearer token is the one value that
    /// is not parser-checked, so a stored token with CR LF must never reach the upstream.
    @Test func tokenWithControlCharactersIsRefusedNotForwarded() async throws {
        let h = try await ProxyHarness.start(tokens: FakeTokenProvider(tokens: ["acme": "tok\r\nX-Injected: 1"]))
        defer { Task { await h.stop() } }
        let response = try await h.get("/jira/acme/rest/api/2/myself")
        #expect(response.status == 502)
        #expect(response.text.contains("jira-auth-agent login acme"))
        #expect(h.upstream.requests.isEmpty)
    }

    /// A percent-encoded CR LF in the connection name (a `team:` alias resolves to the
    /// default) must not reach a `Location` or a rewritten link.
    @Test func nameWithEncodedLineBreakIsRefused() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        for name in ["team:%0D%0AX-Injected:%201", "team:%22x", "team:a%5Cb", "team:%00"] {
            let response = try await h.get("/jira/\(name)/rest/api/2/myself")
            #expect(response.status == 404, "\(name)")
            #expect(!response.headers.contains { $0.name.lowercased() == "x-injected" })
        }
        #expect(h.upstream.requests.isEmpty)
        #expect(try await h.get("/jira/team:design/rest/api/2/myself").status == 200)
    }
}
