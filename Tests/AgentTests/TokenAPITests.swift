import Foundation
import Keyring
import Logging
import OAuth
import Testing
import TestSupport
@testable import Agent
#if canImport(Glibc)
import Glibc
#endif

/// The token API in process (DESIGN §6, docs/token-api.md): a `SessionRegistry` over one
/// connection, a `MemoryStore` and a `ManualClock`. The authorization server's endpoints
/// point at a local port that refuses connections, so any call to it fails fast.
@Suite struct TokenAPITests {
    static let accessToken = "at-valid-8d2f61"
    static let refreshToken = "rt-secret-4b9e07"

    /// Everything one test needs; `finish()` stops the session timers.
    struct Fixture {
        let clock = ManualClock()
        let store = MemoryStore()
        let refused: RefusingPort
        let registry: SessionRegistry
        let api: TokenAPI
        let expiresAt: Date

        init(withTokens: Bool, tokenExecutables: [String]? = nil, clientExecutables: Set<String> = []) async throws {
            refused = try RefusingPort()
            let base = "http://127.0.0.1:\(refused.port)"
            let connection = Connection(
                id: "acme", name: "ACME Jira", jiraURL: URL(string: "https://jira.acme.example")!,
                authorizationURL: URL(string: "\(base)/authorize")!, tokenURL: URL(string: "\(base)/token")!,
                revocationURL: URL(string: "\(base)/revoke")!, clientID: "desktop", clientAuth: .none,
                tokenExecutables: tokenExecutables, origin: .global(file: "/etc/xdg/jira-auth-agent/connections.toml"))
            expiresAt = clock.now().addingTimeInterval(3600)
            if withTokens {
                await store.save(TokenSet(accessToken: Self.accessTokenValue, refreshToken: Self.refreshTokenValue,
                                          expiresAt: expiresAt, obtainedAt: clock.now(), account: "jdoe"),
                                 for: ItemIdentity(connection: "acme", jiraURL: connection.jiraURL.absoluteString))
            }
            let logger = Logger(label: "token-api-tests", factory: { _ in SwiftLogNoOpLogHandler() })
            registry = SessionRegistry(
                catalog: ConnectionCatalog(connections: [connection]),
                dependencies: .init(store: store, launcher: BrowserLauncher(environment: [:]), clock: clock, logger: logger))
            api = TokenAPI(registry: registry, info: {
                AgentInfo(version: "test", pid: 1, keyring: "memory", proxyURL: nil, socket: "/run/user/1000/jira-auth-agent/api.sock")
            }, logger: logger, clientExecutables: clientExecutables)
        }

        static var accessTokenValue: String { TokenAPITests.accessToken }
        static var refreshTokenValue: String { TokenAPITests.refreshToken }

        func call(_ method: String, _ path: String, query: String? = nil, body: String = "", pid: Int32? = nil) async -> LocalAPIResponse {
            await api.respond(LocalAPIRequest(method: method, path: path, query: query, body: Data(body.utf8),
                                              peer: PeerCredentials(uid: getuid(), pid: pid)))
        }

        func finish() async {
            await registry.shutdown()
            refused.release()
        }
    }

    static func json(_ response: LocalAPIResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: response.body) as? [String: Any])
    }

    static func expectError(_ response: LocalAPIResponse, status: Int, code: String,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(response.status == status, sourceLocation: sourceLocation)
        let body = try json(response)
        #expect(body["error"] as? String == code, sourceLocation: sourceLocation)
        #expect((body["message"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
    }

    @Test(.timeLimit(.minutes(1)))
    func tokenEndpointReturnsTheStoredToken() async throws {
        let fixture = try await Fixture(withTokens: true)
        for name in ["acme", "default"] {
            let response = await fixture.call("POST", "/v1/connections/\(name)/token", body: #"{"min_valid": 60}"#)
            #expect(response.status == 200)
            let body = try Self.json(response)
            #expect(body["access_token"] as? String == Self.accessToken)
            #expect(body["token_type"] as? String == "Bearer")
            #expect((body["expires_at"] as? NSNumber)?.int64Value == Int64(fixture.expiresAt.timeIntervalSince1970))
            #expect(body["connection"] as? String == "acme")
            #expect(!String(decoding: response.body, as: UTF8.self).contains(Self.refreshToken))
        }
        // An empty body is allowed (defaults apply).
        #expect(await fixture.call("POST", "/v1/connections/acme/token").status == 200)
        await fixture.finish()
    }

    @Test(.timeLimit(.minutes(1)))
    func nonInteractiveWithoutTokensIsAuthorizationRequired() async throws {
        let fixture = try await Fixture(withTokens: false)
        let response = await fixture.call("POST", "/v1/connections/acme/token", body: #"{"interactive": false}"#)
        try Self.expectError(response, status: 401, code: "authorization_required")
        #expect((try Self.json(response)["message"] as? String)?.contains("jira-auth-agent login acme") == true)
        await fixture.finish()
    }

    @Test(.timeLimit(.minutes(1)))
    func unknownConnectionIs404() async throws {
        let fixture = try await Fixture(withTokens: true)
        let response = await fixture.call("POST", "/v1/connections/acmee/token", body: "{}")
        try Self.expectError(response, status: 404, code: "unknown_connection")
        #expect((try Self.json(response)["message"] as? String)?.contains("acme") == true)
        try Self.expectError(await fixture.call("DELETE", "/v1/connections/nope/tokens"), status: 404, code: "unknown_connection")
        try Self.expectError(await fixture.call("GET", "/v2/status"), status: 404, code: "not_found")
        try Self.expectError(await fixture.call("GET", "/v1/nothing"), status: 404, code: "not_found")
        await fixture.finish()
    }

    @Test(.timeLimit(.minutes(1)), arguments: ["not json", #"{"min_valid": "soon"}"#, "[1, 2]", #"{"interactive": "yes"}"#, "{"])
    func badJSONBodyIs400(body: String) async throws {
        let fixture = try await Fixture(withTokens: true)
        try Self.expectError(await fixture.call("POST", "/v1/connections/acme/token", body: body), status: 400, code: "bad_request")
        await fixture.finish()
    }

    @Test(.timeLimit(.minutes(1)), arguments: [
        ("POST", "/v1/status"), ("DELETE", "/v1/status"), ("PUT", "/v1/connections"),
        ("GET", "/v1/connections/acme/token"), ("PUT", "/v1/connections/acme/tokens"),
    ])
    func wrongMethodIs405(method: String, path: String) async throws {
        let fixture = try await Fixture(withTokens: true)
        try Self.expectError(await fixture.call(method, path), status: 405, code: "method_not_allowed")
        #expect(await fixture.store.load(connection: "acme") != nil)
        await fixture.finish()
    }

    @Test(.timeLimit(.minutes(1)))
    func statusNeverContainsATokenString() async throws {
        let fixture = try await Fixture(withTokens: true)
        // Load the session first, so the tokens are in memory when status is asked for.
        #expect(await fixture.call("POST", "/v1/connections/acme/token").status == 200)
        for path in ["/v1/status", "/v1/connections"] {
            let response = await fixture.call("GET", path)
            #expect(response.status == 200)
            let raw = String(decoding: response.body, as: UTF8.self)
            #expect(!raw.contains(Self.refreshToken), "\(path) leaks the refresh token")
            #expect(!raw.contains(Self.accessToken), "\(path) leaks the access token")
            #expect(raw.contains(#""connection":"acme""#))
        }
        let status = try Self.json(await fixture.call("GET", "/v1/status"))
        let connection = try #require((status["connections"] as? [[String: Any]])?.first)
        #expect(connection["state"] as? String == "authorized")
        #expect(connection["has_refresh_token"] as? Bool == true)
        #expect(connection["account"] as? String == "jdoe")
        await fixture.finish()
    }

    @Test(.timeLimit(.minutes(1)))
    func revocationThatCannotReachTheServerIsKeptMarkedUntilRevokedAgain() async throws {
        let fixture = try await Fixture(withTokens: true)
        let response = await fixture.call("DELETE", "/v1/connections/acme/tokens")
        #expect(response.status == 200)
        let report = try Self.json(response)
        #expect(report["connection"] as? String == "acme")
        #expect(report["uncertain"] as? [String] == ["refresh_token", "access_token"])
        #expect(report["revoked"] as? [String] == [])
        #expect(report["deleted_from_keyring"] as? Bool == false)
        #expect(!String(decoding: response.body, as: UTF8.self).contains(Self.refreshToken))
        // The item stays, marked: `revoke` run again — by this agent or after a restart —
        // finishes it (SECURITY S17); it is never used for requests.
        let kept = try #require(await fixture.store.load(connection: "acme"))
        #expect(kept.revocationPending == true && kept.refreshToken == Self.refreshToken)
        try Self.expectError(await fixture.call("POST", "/v1/connections/acme/token"), status: 401, code: "authorization_required")
        let status = try Self.json(await fixture.call("GET", "/v1/status"))
        let connection = try #require((status["connections"] as? [[String: Any]])?.first)
        #expect(connection["state"] as? String == "revoked" && connection["revocation_pending"] as? Bool == true)
        // `revoke` again (as the CLI suggests): the unconfirmed tokens are tried once more,
        // not silently forgotten.
        let retry = try Self.json(await fixture.call("DELETE", "/v1/connections/acme/tokens"))
        #expect(retry["uncertain"] as? [String] == ["refresh_token", "access_token"])
        #expect(try #require(await fixture.store.load(connection: "acme")).revocationPending == true)
        await fixture.finish()
    }

    // MARK: The CLI's parser of the API's answers

    @Test func clientParsesAContentLengthResponse() throws {
        let raw = "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\ncontent-length:  13\r\n\r\n{\"error\":\"x\"}trailing"
        let response = try TokenAPIClient.parse(Array(raw.utf8))
        #expect(response.status == 401)
        #expect(String(decoding: response.body, as: UTF8.self) == #"{"error":"x"}"#)
    }

    @Test func clientParsesACloseDelimitedResponse() throws {
        let response = try TokenAPIClient.parse(Array("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}".utf8))
        #expect(response.status == 200)
        #expect(response.body == Data("{}".utf8))
    }

    @Test(arguments: ["", "garbage", "HTTP/1.1 200 OK\r\n", "HTTP/1.1 abc\r\n\r\n"])
    func clientRefusesWhatIsNotHTTP(raw: String) {
        #expect {
            _ = try TokenAPIClient.parse(Array(raw.utf8))
        } throws: { error in
            (error as? AgentError)?.code == .protocolViolation
        }
    }
}

/// A TCP port on 127.0.0.1 that is bound but not listening: connections to it are refused
/// at once, and no other program can take it while the test holds it.
struct RefusingPort {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { close(fd); throw POSIXError(.EADDRINUSE) }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func release() { close(fd) }
}
