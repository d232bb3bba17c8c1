import Foundation
import Keyring
import Testing
import TestSupport
@testable import Agent

/// Where the client secret comes from (DESIGN §3): `client_secret_file` first, else the
/// keyring item of `connections set-secret`, else an error naming both fixes.
@Suite struct ClientSecretSourceTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jaa-secret-\(UUID().uuidString.prefix(8))")

    func connection(file: String? = nil) -> Connection {
        Connection(id: "acme", jiraURL: URL(string: "https://jira.example.test")!, clientID: "desktop",
                   clientSecretFile: file, origin: .user(file: "/home/u/.config/jira-auth-agent/connections.toml"))
    }

    func secretFile(_ text: String) throws -> String {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("secret").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    @Test func theFileWinsOverTheKeyring() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = ClientSecretSource(store: MemoryClientSecretStore(["acme": "from-keyring"]))
        let path = try secretFile("from-file\n")
        #expect(try await source.secret(for: connection(file: path)) == "from-file")
    }

    @Test func withoutAFileTheKeyringIsUsed() async throws {
        let source = ClientSecretSource(store: MemoryClientSecretStore(["acme": "from-keyring"]))
        #expect(try await source.secret(for: connection()) == "from-keyring")
    }

    @Test func anUnreadableFileIsAnErrorEvenWithAKeyringSecret() async throws {
        let source = ClientSecretSource(store: MemoryClientSecretStore(["acme": "from-keyring"]))
        let error = await #expect(throws: AgentError.self) {
            try await source.secret(for: connection(file: "/nonexistent/jaa-secret"))
        }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("/nonexistent/jaa-secret") == true)
    }

    @Test func neitherNamesBothFixes() async throws {
        for source in [ClientSecretSource(store: MemoryClientSecretStore()), ClientSecretSource()] {
            let error = await #expect(throws: AgentError.self) { try await source.secret(for: connection()) }
            #expect(error?.code == .configuration)
            let message = error?.message ?? ""
            #expect(message.contains("client_secret_file"))
            #expect(message.contains("/home/u/.config/jira-auth-agent/connections.toml"))
            #expect(message.contains("jira-auth-agent connections set-secret acme"))
        }
    }

    @Test(arguments: [KeyringError.Code.locked, .unavailable, .timedOut])
    func keyringFailuresAreNotReadAsNoSecret(_ code: KeyringError.Code) async throws {
        let source = ClientSecretSource(store: MemoryClientSecretStore(failure: KeyringError(code: code, connection: "acme")))
        let error = await #expect(throws: AgentError.self) { try await source.secret(for: connection()) }
        #expect(error?.code == (code == .locked ? .keyringLocked : .keyringUnavailable))
        #expect(error?.message.contains("set-secret") == false)
    }
}
