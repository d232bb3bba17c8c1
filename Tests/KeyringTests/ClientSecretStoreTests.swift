import Foundation
import Keyring
import OAuth
import Testing

/// `SecretServiceClientSecretStore` in each keyring situation (`make test` runs this file
/// under every one): a real round trip beside the token item, and locked, absent and hung
/// services told apart like the token store's, never read as "no secret".
@Suite("SecretServiceClientSecretStore", .serialized, .timeLimit(.minutes(1)))
struct ClientSecretStoreTests {
    let store = SecretServiceClientSecretStore(timeout: .seconds(2))

    @Test("round trip; separate from the token item of the same connection",
          .enabled(if: Situation.current == .unlocked, Situation.unlocked.skipReason))
    func roundTrip() async throws {
        let connection = Fixture.connection("secret")
        let tokens = SecretServiceStore(timeout: .seconds(5))
        #expect(try await store.load(connection: connection) == nil)
        try await tokens.save(Fixture.tokens(), for: Fixture.identity(connection))
        #expect(try await store.load(connection: connection) == nil, "a token item is not a client secret")
        try await store.save("s3cret-1", connection: connection)
        try await store.save("s3cret-2 ünïcode", connection: connection)
        #expect(try await store.load(connection: connection) == "s3cret-2 ünïcode")
        #expect(try await tokens.load(connection: connection) == Fixture.tokens(), "the token item is untouched")
        #expect(try await store.delete(connection: connection))
        #expect(try await store.load(connection: connection) == nil)
        #expect(try await !store.delete(connection: connection))
        #expect(try await tokens.delete(connection: connection))
    }

    @Test("locked keyring: save throws .locked; the locked token item is not a client secret",
          .enabled(if: Situation.current == .locked, Situation.locked.skipReason))
    func locked() async throws {
        // The session's one locked item belongs to the token schema (its hashed schema shows).
        #expect(try await store.load(connection: "locked-test") == nil)
        let error = await #expect(throws: KeyringError.self) {
            try await store.save("s3cret", connection: Fixture.connection("new"))
        }
        #expect(error?.code == .locked)
    }

    @Test("no Secret Service: .unavailable", .enabled(if: Situation.current == .none, Situation.none.skipReason))
    func unavailable() async throws {
        for operation in [{ _ = try await store.load(connection: "x") }, { try await store.save("s", connection: "x") },
                          { _ = try await store.delete(connection: "x") }] as [@Sendable () async throws -> Void] {
            let error = await #expect(throws: KeyringError.self) { try await operation() }
            #expect(error?.code == .unavailable)
        }
    }

    @Test("a hung Secret Service: .timedOut within the bound", .enabled(if: Situation.current == .hung, Situation.hung.skipReason))
    func hung() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: KeyringError.self) { _ = try await store.load(connection: "x") }
        #expect(error?.code == .timedOut)
        #expect(clock.now - start < .seconds(4))
    }
}
