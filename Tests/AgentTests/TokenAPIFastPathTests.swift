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

/// The token API's hot path (`respondWithoutSuspending`) must answer exactly what the
/// regular path answers, and stay out of the way whenever it cannot be sure.
@Suite struct TokenAPIFastPathTests {
    static func registry(token: String, lifetime: TimeInterval, clock: ManualClock) async throws -> (SessionRegistry, TokenAPI) {
        let connection = Connection(
            id: "acme", jiraURL: URL(string: "https://jira.acme.example")!,
            authorizationURL: URL(string: "http://127.0.0.1:9/authorize")!, tokenURL: URL(string: "http://127.0.0.1:9/token")!,
            clientID: "desktop", clientAuth: .none)
        let store = MemoryStore()
        await store.save(TokenSet(accessToken: token, refreshToken: "rt", expiresAt: clock.now().addingTimeInterval(lifetime),
                                      obtainedAt: clock.now()),
                             for: ItemIdentity(connection: "acme", jiraURL: "https://jira.acme.example"))
        let logger = Logger(label: "fast-path-tests", factory: { _ in SwiftLogNoOpLogHandler() })
        let registry = SessionRegistry(catalog: ConnectionCatalog(connections: [connection]),
                                       dependencies: .init(store: store, launcher: BrowserLauncher(environment: [:]), clock: clock, logger: logger))
        let api = TokenAPI(registry: registry, info: { AgentInfo(version: "t", pid: 1, keyring: "memory", proxyURL: nil, socket: "s") }, logger: logger)
        return (registry, api)
    }

    static func request(_ path: String, _ body: String = "") -> LocalAPIRequest {
        LocalAPIRequest(method: "POST", path: path, body: Data(body.utf8), peer: PeerCredentials(uid: getuid()))
    }

    @Test("before the first keyring read the fast path declines; afterwards it answers byte for byte like respond()",
          arguments: ["plain-token-123", #"tok"with\quote"#])
    func sameBytesAsTheRegularPath(token: String) async throws {
        let clock = ManualClock()
        let (registry, api) = try await Self.registry(token: token, lifetime: 3600, clock: clock)
        let request = Self.request("/v1/connections/acme/token", #"{"min_valid": 60}"#)
        #expect(api.respondWithoutSuspending(request) == nil, "nothing cached yet")
        let slow = await api.respond(request)
        #expect(slow.status == 200)
        let fast = try #require(api.respondWithoutSuspending(request))
        #expect(fast.status == 200)
        #expect(fast.body == slow.body, "\(String(decoding: fast.body, as: UTF8.self)) vs \(String(decoding: slow.body, as: UTF8.self))")
        let object = try JSONSerialization.jsonObject(with: fast.body) as? [String: Any]
        #expect(object?["access_token"] as? String == token)
        #expect(api.respondWithoutSuspending(Self.request("/v1/connections/default/token")) != nil)
        await registry.shutdown()
    }

    @Test("declines what it cannot answer: unknown names, bad bodies, other routes, too little validity left")
    func declines() async throws {
        let clock = ManualClock()
        let (registry, api) = try await Self.registry(token: "t-1", lifetime: 100, clock: clock)
        _ = await api.respond(Self.request("/v1/connections/acme/token"))
        #expect(api.respondWithoutSuspending(Self.request("/v1/connections/nope/token")) == nil)
        #expect(api.respondWithoutSuspending(Self.request("/v1/connections/acme/token", "not json")) == nil)
        #expect(api.respondWithoutSuspending(Self.request("/v1/status")) == nil)
        #expect(api.respondWithoutSuspending(Self.request("/v1/connections/acme/authorize")) == nil)
        // 100 s tokens: min_valid is capped at 50 s; with 40 s left the cache declines.
        #expect(api.respondWithoutSuspending(Self.request("/v1/connections/acme/token", #"{"min_valid": 3600}"#)) != nil)
        clock.advance(by: 60)
        #expect(api.respondWithoutSuspending(Self.request("/v1/connections/acme/token", #"{"min_valid": 3600}"#)) == nil)
        #expect(api.respondWithoutSuspending(Self.request("/v1/connections/acme/token", #"{"min_valid": 30}"#)) != nil)
        await registry.shutdown()
    }
}
