import Foundation
import Keyring
import OAuth
import Testing

/// A locked login keyring (`keyring-session.sh locked`, which leaves one item with
/// `connection=locked-test`): locked is an error, never "no token", and nothing prompts.
@Suite(
    "SecretServiceStore with a locked keyring", .serialized, .timeLimit(.minutes(1)),
    .enabled(if: Situation.current == .locked, Situation.locked.skipReason))
struct LockedSituationTests {
    let store = SecretServiceStore(timeout: .seconds(5))

    @Test("load of a locked item throws .locked, never nil")
    func loadLocked() async throws {
        let error = await #expect(throws: KeyringError.self) {
            try await store.load(connection: "locked-test")
        }
        #expect(error?.code == .locked)
        #expect(error?.description.contains("secret-tool lookup xdg:schema io.github.jira-auth-agent.Tokens") == true)
    }

    @Test("save into the locked collection throws .locked")
    func saveLocked() async throws {
        let error = await #expect(throws: KeyringError.self) {
            try await store.save(Fixture.tokens(), for: Fixture.identity(Fixture.connection("new")))
        }
        #expect(error?.code == .locked)
    }

    @Test("delete of a locked item throws .locked instead of unlocking")
    func deleteLocked() async throws {
        let error = await #expect(throws: KeyringError.self) {
            try await store.delete(connection: "locked-test")
        }
        #expect(error?.code == .locked)
    }

    @Test("list reports the item as locked")
    func listLocked() async throws {
        let items = try await store.list()
        #expect(items.count == 1)
        #expect(items.first?.locked == true)
    }

    @Test("an absent connection is still absent")
    func absentIsAbsent() async throws {
        #expect(try await store.load(connection: Fixture.connection("absent")) == nil)
    }

    @Test("health reports locked")
    func health() async {
        #expect(await store.health() == .locked)
    }
}
