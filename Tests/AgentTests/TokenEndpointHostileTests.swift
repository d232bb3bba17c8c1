import NIOCore
import Foundation
import Logging
import OAuth
import Testing
import TestSupport
@testable import Agent

/// A local token endpoint that answers badly (issue 3; SECURITY S9, S10, S11): the code
/// exchange and the refresh go through the real `OutboundHTTPClient` to a `RecordingUpstream`
/// and must end in a clear `AgentError` of the right code — no crash, no redirect followed,
/// and none of the code, the refresh token, the client secret or the body in the message.
@Suite(.timeLimit(.minutes(1)))
struct TokenEndpointHostileTests {
    static let code = "code-Zq81vXb0Lw"
    static let refreshToken = "rt-Hk29dPq7Yc"
    static let clientSecret = "cs-Wm54tRa6Jn"
    /// Put in every hostile body: must never reach a message.
    static let bodyMarker = "body-marker-Pf03"

    /// A bad answer and what the agent must make of it (nil: accepted, with a clamped expiry).
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var reply: RecordingUpstream.Reply
        var expected: AgentError.Code?
        var mentions: String
        var testDescription: String { name }
    }

    static func json(_ text: String, status: Int = 200) -> RecordingUpstream.Reply { .json(text, status: status) }

    static let cases: [Case] = [
        Case(name: "HTML login portal", reply: .init(status: 200, headers: [("Content-Type", "text/html")],
             body: Array("<html><body>Sign in to the portal \(bodyMarker)</body></html>".utf8)),
             expected: .protocolViolation, mentions: "not valid OAuth"),
        Case(name: "JSON without access_token", reply: json(#"{"token_type":"Bearer","expires_in":300,"note":"\#(bodyMarker)"}"#),
             expected: .protocolViolation, mentions: "access_token"),
        Case(name: "token_type mac", reply: json(#"{"access_token":"at-\#(bodyMarker)","token_type":"mac","expires_in":300}"#),
             expected: .protocolViolation, mentions: "Bearer"),
        Case(name: "expires_in \"abc\"", reply: json(#"{"access_token":"at-\#(bodyMarker)","token_type":"Bearer","expires_in":"abc"}"#),
             expected: .protocolViolation, mentions: "expires_in"),
        Case(name: "HTTP 500", reply: .init(status: 500, headers: [("Content-Type", "text/plain")], body: Array("stack trace \(bodyMarker)".utf8)),
             expected: .transient, mentions: "HTTP 500"),
        Case(name: "HTTP 500 with server_error JSON", reply: json(#"{"error":"server_error","error_description":"db down"}"#, status: 500),
             expected: .transient, mentions: "server_error"),
        Case(name: "empty 400 (no OAuth error: no verdict on the grant)", reply: .init(status: 400), expected: .transient, mentions: "HTTP 400"),
        // S10: out-of-range numbers are clamped, not trusted and not trapped on.
        Case(name: "expires_in -5", reply: json(#"{"access_token":"at-1","token_type":"Bearer","expires_in":-5}"#),
             expected: nil, mentions: ""),
        Case(name: "expires_in 1e300", reply: json(#"{"access_token":"at-1","token_type":"Bearer","expires_in":1e300}"#),
             expected: nil, mentions: ""),
    ]

    func client(tokenURL: String) -> ConnectionOAuthClient {
        let connection = Connection(id: "hostile", jiraURL: URL(string: "https://jira.example.test")!,
                                    authorizationURL: URL(string: "https://sso.example.test/authorize")!,
                                    tokenURL: URL(string: tokenURL)!, clientID: "desktop", clientAuth: .basic)
        return ConnectionOAuthClient(connection: connection, http: OutboundHTTPClient(timeout: .seconds(5)),
                                     secrets: ClientSecretSource(store: MemoryClientSecretStore(["hostile": Self.clientSecret])),
                                     logger: Logger(label: "test"))
    }

    /// Both grants against one server: the code exchange and the refresh.
    func calls(_ client: ConnectionOAuthClient) -> [(String, @Sendable () async throws -> TokenSet)] {
        [
            ("exchange", { try await client.exchange(code: Self.code, redirectURI: "http://127.0.0.1:5000/callback", verifier: String(repeating: "v", count: 43)) }),
            ("refresh", { try await client.refresh(TokenSet(accessToken: "at-old", refreshToken: Self.refreshToken)) }),
        ]
    }

    func expectClean(_ message: String, _ label: String) {
        for secret in [Self.code, Self.refreshToken, Self.clientSecret, Self.bodyMarker, "Sign in to the portal", "stack trace"] {
            #expect(!message.contains(secret), "\(label): message leaks \(secret): \(message)")
        }
    }

    @Test(arguments: cases)
    func badAnswer(_ bad: Case) async throws {
        let server = try await RecordingUpstream { _ in bad.reply }
        defer { Task { await server.stop() } }
        for (call, run) in calls(client(tokenURL: "\(server.baseURL)/o/token/")) {
            let now = Date()
            do {
                let tokens = try await run()
                guard bad.expected == nil else {
                    Issue.record("\(bad.name) / \(call): accepted")
                    continue
                }
                let lifetime = try #require(tokens.expiresAt).timeIntervalSince(now)
                #expect(lifetime >= 0.5 && lifetime <= 31_536_000 + 5, "\(bad.name) / \(call): lifetime \(lifetime) not clamped")
            } catch let error as AgentError {
                #expect(error.code == bad.expected, "\(bad.name) / \(call): \(error.code) — \(error.message)")
                #expect(error.message.contains(bad.mentions), "\(bad.name) / \(call): \(error.message)")
                #expect(error.message.contains("'hostile'"), "names the connection: \(error.message)")
                expectClean(error.message, "\(bad.name) / \(call)")
                expectClean("\(error)", "\(bad.name) / \(call)")
            }
        }
        // Both requests reached the server, client-authenticated (so a leak was possible).
        #expect(server.requests.count == 2)
        #expect(server.requests.allSatisfy { $0.header("authorization")?.hasPrefix("Basic ") == true })
    }

    @Test func aRedirectIsNeverFollowed() async throws {
        let elsewhere = try await RecordingUpstream { _ in .json(#"{"access_token":"at-stolen","token_type":"Bearer"}"#) }
        defer { Task { await elsewhere.stop() } }
        let server = try await RecordingUpstream { _ in
            .init(status: 302, headers: [("Location", "\(elsewhere.baseURL)/token?leak=1"), ("Content-Type", "text/html")],
                  body: Array("<a href=x>moved \(Self.bodyMarker)</a>".utf8))
        }
        defer { Task { await server.stop() } }
        for (call, run) in calls(client(tokenURL: "\(server.baseURL)/o/token/")) {
            let error = await #expect(throws: AgentError.self, "\(call)") { _ = try await run() }
            #expect(error?.code == .protocolViolation, "\(call): \(String(describing: error))")
            #expect(error?.message.contains("redirect") == true, "\(call): \(error?.message ?? "")")
            expectClean(error?.message ?? "", "redirect / \(call)")
        }
        #expect(server.requests.count == 2)
        #expect(elsewhere.requests.isEmpty, "the redirect target was contacted")
    }
}
