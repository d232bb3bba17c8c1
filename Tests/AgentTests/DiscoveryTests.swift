import Foundation
import Logging
import NIOCore
import Testing
import TestSupport
@testable import Agent
@testable import OAuth

/// Discovery against a server as it answers (issue 16 item 5): the message names the real
/// reason, an issuer mismatch, even when the next location then fails with an HTTP error.
@Suite struct DiscoveryTests {
    func client(issuer: String) -> ConnectionOAuthClient {
        let connection = Connection(id: "acme", jiraURL: URL(string: "https://jira.example.test")!, issuer: issuer,
                                    clientID: "desktop", clientAuth: .none, origin: .user(file: "/home/u/.config/jira-auth-agent/connections.toml"))
        return ConnectionOAuthClient(connection: connection, http: OutboundHTTPClient(timeout: .seconds(5)),
                                     secrets: ClientSecretSource(store: MemoryClientSecretStore([:])), logger: Logger(label: "test"))
    }

    @Test("a wrong issuer: the OpenID location's metadata names another issuer, the RFC 8414 location answers 401")
    func issuerMismatchIsTheReason() async throws {
        let upstream = try await RecordingUpstream { request in
            if request.uri.hasSuffix("/.well-known/openid-configuration") {
                return .json(#"{"issuer":"https://sso.example.test/realms/acme","authorization_endpoint":"https://sso.example.test/a","token_endpoint":"https://sso.example.test/t"}"#)
            }
            return RecordingUpstream.Reply(status: 401, headers: [("Content-Type", "text/html")], body: Array("<h1>401</h1>".utf8))
        }
        let issuer = upstream.baseURL + "/realms/acme"
        do {
            _ = try await client(issuer: issuer).endpoints()
            Issue.record("a mismatched issuer was accepted")
        } catch let error as AgentError {
            #expect(error.code == .configuration)
            #expect(error.message.contains("names the issuer 'https://sso.example.test/realms/acme', not '\(issuer)'"), "\(error.message)")
            #expect(!error.message.contains("401"), "the later 401 is not the reason: \(error.message)")
            #expect(error.message.contains("connections.toml"))
        }
        // Both locations were tried, in the documented order: OpenID first, then RFC 8414.
        #expect(upstream.requests.map(\.uri) == ["/realms/acme/.well-known/openid-configuration",
                                                 "/.well-known/oauth-authorization-server/realms/acme"])
        await upstream.stop()
    }
}
