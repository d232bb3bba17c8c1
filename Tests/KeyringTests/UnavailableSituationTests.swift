import Foundation
import Keyring
import OAuth
import Testing

/// No Secret Service on the bus (`keyring-session.sh none`): every call fails fast with
/// `.unavailable` and a message that says what to do; nothing falls back to plaintext.
@Suite(
    "SecretServiceStore without a Secret Service", .serialized, .timeLimit(.minutes(1)),
    .enabled(if: Situation.current == .none, Situation.none.skipReason))
struct UnavailableSituationTests {
    let store = SecretServiceStore(timeout: .seconds(5))
    let clock = ContinuousClock()

    @Test("every operation throws .unavailable quickly")
    func everyOperationIsUnavailable() async throws {
        let id = Fixture.identity(Fixture.connection("none"))
        let operations: [(String, @Sendable () async throws -> Void)] = [
            ("load", { _ = try await store.load(connection: id.connection) }),
            ("save", { try await store.save(Fixture.tokens(), for: id) }),
            ("delete", { try await store.delete(connection: id.connection) }),
            ("list", { _ = try await store.list() }),
        ]
        for (name, operation) in operations {
            let start = clock.now
            let error = await #expect(throws: KeyringError.self, "\(name)") { try await operation() }
            // Fails at once, not after D-Bus gives up on activating the service (25 s).
            #expect(clock.now - start < .seconds(10), "\(name) took \(clock.now - start)")
            #expect(error?.code == .unavailable, "\(name): \(String(describing: error))")
            #expect(error?.underlying != nil)
            #expect(error?.description.contains("--memory-store") == true)
            #expect(error?.description.contains("D-Bus") == true)
        }
    }

    @Test("health reports unavailable with the remedy")
    func health() async {
        guard case .unavailable(let message) = await store.health() else {
            Issue.record("expected .unavailable")
            return
        }
        #expect(message.contains("gnome-keyring-daemon"))
    }
}
