import Agent
import Foundation
import Testing
import TestSupport

/// SECURITY S9: what the proxy refuses before anything reaches the gateway.
@Suite("Proxy refusals", .timeLimit(.minutes(1)))
struct ProxyRefusalTests {
    @Test func hostOutsideTheAllowlistIsRefused() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        for bad in ["evil.example:\(h.port)", "127.0.0.1:\(h.port + 1)", "127.0.0.1", "localhost", "127.0.0.2:\(h.port)"] {
            let response = try await h.request("GET /jira/acme/x HTTP/1.1\r\nHost: \(bad)\r\n")
            #expect(response.status == 421, "Host \(bad)")
            #expect(response.text.contains("host_not_allowed"))
        }
        for good in ["127.0.0.1:\(h.port)", "localhost:\(h.port)", "LOCALHOST:\(h.port)", "[::1]:\(h.port)"] {
            #expect(try await h.request("GET /jira/acme/x HTTP/1.1\r\nHost: \(good)\r\n").status == 200, "Host \(good)")
        }
        #expect(try await h.request("GET /jira/acme/x HTTP/1.1\r\n").status == 400)
        #expect(h.upstream.requests.count == 4)
    }

    /// The agent's own answers to HEAD carry their length and no body: a body would be
    /// read by the client as the next response.
    @Test func answersToHEADHaveNoBody() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        let r = try await h.onOneConnection(["HEAD /jira/nope/x HTTP/1.1\r\nHost: \(h.host)\r\n\r\n", h.getRequest("/jira/acme/x")])
        let (refused, next) = (r[0], r[1])
        #expect(refused.status == 404 && Int(refused.header("content-length") ?? "") ?? 0 > 0)
        #expect(next.status == 200 && next.text == #"{"ok":true}"#)
    }

    @Test func crossSiteRequestsAreRefused() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        let origin = try await h.get("/jira/acme/x", extra: "Origin: https://evil.example\r\n")
        #expect(origin.status == 403)
        #expect(origin.text.contains("cross_site_request"))
        #expect(try await h.get("/jira/acme/x", extra: "Sec-Fetch-Site: cross-site\r\n").status == 403)
        #expect(try await h.get("/jira/acme/x", extra: "Sec-Fetch-Site: same-origin\r\n").status == 403)
        #expect(try await h.get("/jira/acme/x", extra: "Sec-Fetch-Site: none\r\n").status == 200)
        #expect(h.upstream.requests.count == 1)
    }

    @Test func pathsThatLeaveTheBaseAreRefused() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        for bad in ["/jira/acme/../other", "/jira/acme/rest/%2e%2e/other", "/jira/acme/rest/%2E./x", "/jira/acme/./x",
                    "/jira/acme//evil.example/x", "/jira/acme/rest\\..\\x", "/jira/acme/rest/%5c../x", "/jira/acme/..",
                    "/jira/acme/..;/other", "/jira/acme/rest/..;jsessionid=1/../x", "/jira/acme/%2e%2E;x/y",
                    "/jira/acme/..%2fother", "/jira/acme/rest/%2F..%2Fx"] {
            let response = try await h.get(bad)
            #expect(response.status == 400, "\(bad)")
            #expect(response.text.contains("path_escapes_base"), "\(bad)")
        }
        #expect(h.upstream.requests.isEmpty, "nothing reached the upstream")
        for good in ["/jira/acme/rest/api/2/issue/DEMO-1", "/jira/acme/rest/api/2/search?jql=a..b", "/jira/acme/file.name.json", "/jira/acme/x%20y",
                     "/jira/acme/rest/x;v=1", "/jira/acme/a..b;c/d", "/jira/acme/x?next=%2f..%2f"] {
            #expect(try await h.get(good).status == 200, "\(good)")
        }
    }

    @Test func transferEncodingWithContentLengthIsRefused() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        let response = try await h.request("POST /jira/acme/x HTTP/1.1\r\nHost: \(h.host)\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                                     body: "5\r\nhello\r\n0\r\n\r\n")
        #expect(response.status == 400)
        #expect(h.upstream.requests.isEmpty)
    }

    /// What the agent's request parser refuses gets a status that says why, with the local
    /// error shape, and the connection is closed after it: where the next request would
    /// start is unknown.
    @Test(arguments: [
        ("GET /jira/acme/x HTTP/2.0\r\nHost: HOST\r\n\r\n", 505),
        ("POST /jira/acme/x HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("GET /jira/acme/x HTTP/1.1\r\nHost: HOST\r\nX-A: b\r\n folded\r\n\r\n", 400),
        ("GET /jira/acme/x HTTP/1.1\r\nHost: HOST\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        ("GET /jira/acme/x\tHTTP/1.1\r\nHost: HOST\r\n\r\n", 400),
    ])
    func malformedRequestsAreAnsweredAndTheConnectionClosed(_ request: String, status: Int) async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        let port = h.port, text = request.replacingOccurrences(of: "HOST", with: h.host)
        let (response, closed) = try await offloaded { () -> (RawHTTPClient.Response, Bool) in
            let client = try RawHTTPClient(tcpPort: port)
            try client.send(text + "GET /jira/acme/next HTTP/1.1\r\nHost: x\r\n\r\n")
            return (try client.readResponse(), client.isClosedByPeer())
        }
        #expect(response.status == status)
        #expect(response.text.contains("\"error\""), "the local error shape: \(response.text)")
        #expect(closed, "the connection stays open after a request that could not be framed")
        #expect(h.upstream.requests.isEmpty, "nothing is forwarded, not even the request after it")
    }

    @Test func oversizedHeadersAreRefused() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        let big = String(repeating: "a", count: 40 * 1024)
        let response = try await h.get("/jira/acme/x", extra: "X-Big: \(big)\r\n")
        #expect(response.status == 431)
        #expect(h.upstream.requests.isEmpty)
    }

    @Test func oversizedBodyIsRefused() async throws {
        let h = try await ProxyHarness.start(proxy: ProxyConfiguration(maxRequestBodySize: 100))
        defer { Task { await h.stop() } }
        let declared = try await h.request("POST /jira/acme/x HTTP/1.1\r\nHost: \(h.host)\r\nContent-Length: 101\r\n",
                                     body: String(repeating: "b", count: 101))
        #expect(declared.status == 413)
        let chunked = try await h.request("POST /jira/acme/x HTTP/1.1\r\nHost: \(h.host)\r\nTransfer-Encoding: chunked\r\n",
                                    body: "80\r\n" + String(repeating: "c", count: 128) + "\r\n0\r\n\r\n")
        #expect(chunked.status == 413)
    }

    @Test func otherPathsAndTheTokenAPIAreNotServedOverTCP() async throws {
        let h = try await ProxyHarness.start(api: EchoAPI())
        defer { Task { await h.stop() } }
        #expect(try await h.get("/v1/status").status == 404)
        #expect(try await h.get("/").status == 404)
        #expect(try await h.request("GET http://evil.example/jira/acme/x HTTP/1.1\r\nHost: \(h.host)\r\n").status == 400)
    }
}

/// A token-API stand-in that echoes what it was given.
struct EchoAPI: LocalAPIResponder {
    struct Echo: Codable {
        var method: String, path: String, query: String?, body: String, uid: UInt32, pid: Int32?
    }
    func respond(_ request: LocalAPIRequest) async -> LocalAPIResponse {
        .json(Echo(method: request.method, path: request.path, query: request.query,
                   body: String(decoding: request.body, as: UTF8.self), uid: request.peer.uid, pid: request.peer.pid))
    }
}
