import Foundation
import Keyring
import OAuth
import Testing

/// The store against `secret-tool`, another libsecret client of the same gnome-keyring: the
/// items are what DESIGN §4 says, and items written by others are read back.
@Suite(
    "SecretServiceStore and secret-tool", .serialized, .timeLimit(.minutes(1)),
    .enabled(if: Situation.current == .unlocked, Situation.unlocked.skipReason))
struct SecretToolCrossCheckTests {
    let store = SecretServiceStore()

    @Test("an item saved by the store has the schema, attributes and label")
    func savedItemAsSeenBySecretTool() async throws {
        let id = Fixture.identity(Fixture.connection("st"), account: "alice")
        try await store.save(Fixture.tokens(), for: id)
        let found = try await SecretTool.run(
            ["search", "--all"] + SecretTool.schemaArguments + ["connection", id.connection])
        #expect(found.status == 0)
        // secret-tool prints "label = …" and "attribute.NAME = VALUE" (and writes some of it
        // to stderr, depending on the version): look at both.
        let text = found.stdout + found.stderr
        #expect(text.contains("label = \(id.label)"))
        #expect(text.contains("attribute.connection = \(id.connection)"))
        #expect(text.contains("attribute.jira_url = \(id.jiraURL)"))
        #expect(text.contains("attribute.account = alice"))
        #expect(text.components(separatedBy: "attribute.connection = ").count == 2, "exactly one item")
        try await store.delete(connection: id.connection)
    }

    @Test("an item stored by secret-tool is read back")
    func itemStoredBySecretTool() async throws {
        let connection = Fixture.connection("ext")
        let tokens = Fixture.tokens("at-from-secret-tool", refresh: "rt-from-secret-tool")
        let json = String(decoding: try tokens.jsonData(), as: UTF8.self)
        let stored = try await SecretTool.run(
            ["store", "--label=Jira tokens — \(connection)"] + SecretTool.schemaArguments
                + ["connection", connection, "jira_url", "https://jira.example.test", "account", "alice"],
            input: json)
        #expect(stored.status == 0, "\(stored.stderr)")
        #expect(try await store.load(connection: connection) == tokens)
        let item = try await store.list().first { $0.identity.connection == connection }
        #expect(item == StoredItem(
            identity: ItemIdentity(
                connection: connection, jiraURL: "https://jira.example.test", account: "alice",
                label: "Jira tokens — \(connection)"),
            locked: false))
        #expect(try await store.delete(connection: connection))
    }

    @Test("an item that is not our JSON is corrupt, not absent, and the error shows no secret")
    func corruptItem() async throws {
        let connection = Fixture.connection("bad")
        let secret = "s3cr3t-not-json"
        let stored = try await SecretTool.run(
            ["store", "--label=bad"] + SecretTool.schemaArguments + ["connection", connection],
            input: secret)
        #expect(stored.status == 0, "\(stored.stderr)")
        let error = await #expect(throws: KeyringError.self) {
            try await store.load(connection: connection)
        }
        #expect(error?.code == .corrupt)
        #expect(error?.description.contains(secret) == false)
        #expect(error?.description.contains("secret-tool clear") == true)
        #expect(try await store.delete(connection: connection))
    }

    /// (Their speed is measured by the benchmarks, not here.)
    @Test("repeated warm loads return what was saved")
    func warmLoadsReturnTheSavedTokens() async throws {
        let id = Fixture.identity(Fixture.connection("warm"))
        try await store.save(Fixture.tokens(), for: id)
        _ = try await store.load(connection: id.connection)
        for i in 0..<20 {
            #expect(try await store.load(connection: id.connection) == Fixture.tokens(), "load \(i)")
        }
        try await store.delete(connection: id.connection)
    }
}
