import Foundation
import Keyring
import OAuth
import Testing

/// The `TokenStore` contract (DESIGN §4, STYLE §10): every property written once, run against
/// every store by `TokenStoreContractTests`. Connection ids are unique per check, so checks
/// that share one keyring never see each other's items; each check removes what it saved.
enum ContractCheck: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case absent
    case roundTrip
    case saveReplaces
    case delete
    case list
    case independent
    case unicodeAndLarge
    case health

    var testDescription: String {
        switch self {
        case .absent: "load of an absent connection is nil"
        case .roundTrip: "save then load returns the same token set"
        case .saveReplaces: "save replaces the whole item, one per connection"
        case .delete: "delete reports whether an item was there"
        case .list: "list reports identities, unlocked, never secrets"
        case .independent: "two connections are independent"
        case .unicodeAndLarge: "unicode and large token values survive"
        case .health: "health is ok"
        }
    }

    func run(on store: any TokenStore) async throws {
        switch self {
        case .absent: try await Self.absent(store)
        case .roundTrip: try await Self.roundTrip(store)
        case .saveReplaces: try await Self.saveReplaces(store)
        case .delete: try await Self.delete(store)
        case .list: try await Self.list(store)
        case .independent: try await Self.independent(store)
        case .unicodeAndLarge: try await Self.unicodeAndLarge(store)
        case .health: try await Self.health(store)
        }
    }

    private static func absent(_ store: any TokenStore) async throws {
        #expect(try await store.load(connection: Fixture.connection("absent")) == nil)
    }

    private static func roundTrip(_ store: any TokenStore) async throws {
        let id = Fixture.identity(Fixture.connection("round"))
        try await store.save(Fixture.tokens(), for: id)
        #expect(try await store.load(connection: id.connection) == Fixture.tokens())
        try await store.delete(connection: id.connection)
    }

    private static func saveReplaces(_ store: any TokenStore) async throws {
        let connection = Fixture.connection("replace")
        try await store.save(Fixture.tokens("at-1", refresh: "rt-1"), for: Fixture.identity(connection, account: nil))
        // A later save learns the account: other attributes, still one item.
        let second = Fixture.tokens("at-2", refresh: nil)
        try await store.save(second, for: Fixture.identity(connection, account: "bob"))
        #expect(try await store.load(connection: connection) == second)
        let items = try await store.list().filter { $0.identity.connection == connection }
        #expect(items.count == 1)
        #expect(items.first?.identity.account == "bob")
        try await store.delete(connection: connection)
    }

    private static func delete(_ store: any TokenStore) async throws {
        let id = Fixture.identity(Fixture.connection("delete"))
        try await store.save(Fixture.tokens(), for: id)
        #expect(try await store.delete(connection: id.connection) == true)
        #expect(try await store.delete(connection: id.connection) == false)
        #expect(try await store.load(connection: id.connection) == nil)
    }

    private static func list(_ store: any TokenStore) async throws {
        let id = Fixture.identity(Fixture.connection("list"))
        try await store.save(Fixture.tokens(), for: id)
        let items = try await store.list()
        #expect(items.contains(StoredItem(identity: id, locked: false)))
        try await store.delete(connection: id.connection)
        #expect(try await !store.list().contains { $0.identity.connection == id.connection })
    }

    private static func independent(_ store: any TokenStore) async throws {
        let a = Fixture.identity(Fixture.connection("a")), b = Fixture.identity(Fixture.connection("b"))
        try await store.save(Fixture.tokens("at-a"), for: a)
        try await store.save(Fixture.tokens("at-b"), for: b)
        #expect(try await store.load(connection: a.connection)?.accessToken == "at-a")
        #expect(try await store.delete(connection: a.connection))
        #expect(try await store.load(connection: a.connection) == nil)
        #expect(try await store.load(connection: b.connection)?.accessToken == "at-b")
        try await store.delete(connection: b.connection)
    }

    private static func unicodeAndLarge(_ store: any TokenStore) async throws {
        let id = ItemIdentity(
            connection: Fixture.connection("ünï"), jiraURL: "https://jira.example.test/🚀",
            account: "zoë@例え.jp", label: "Jira tokens — Zürich ☃")
        let large = String(repeating: "eyJhbGciOiJSUzI1NiJ9.", count: 3_000)  // ~64 KiB JWT-like
        let tokens = TokenSet(
            accessToken: large, refreshToken: "rt-\u{0}-\"quoted\"-\\-🔑-\u{2028}", idToken: large,
            obtainedAt: Date(timeIntervalSince1970: 1_800_000_000), account: "zoë")
        try await store.save(tokens, for: id)
        #expect(try await store.load(connection: id.connection) == tokens)
        #expect(try await store.list().contains(StoredItem(identity: id, locked: false)))
        try await store.delete(connection: id.connection)
    }

    private static func health(_ store: any TokenStore) async throws {
        #expect(await store.health() == .ok)
    }
}
