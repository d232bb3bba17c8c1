import FoundationEssentials
public import Keyring
import OAuth

/// Where a connection's client secret comes from: `client_secret_file`, or a secret kept
/// in the keyring by `jira-auth-agent connections set-secret` (DESIGN §3). Never from a
/// world-readable configuration file, never from the environment or argv.
///
/// The file wins when both exist: it is what the configuration names explicitly.
public struct ClientSecretSource: Sendable {
    /// Looks a secret up in the keyring: connection id → secret, or nil.
    public var keyringLookup: @Sendable (String) async throws -> String?

    /// File only: no keyring lookup (tests, `serve --memory-store`).
    public init(keyringLookup: @escaping @Sendable (String) async throws -> String? = { _ in nil }) {
        self.keyringLookup = keyringLookup
    }

    /// File first, then `store` (the daemon and the CLI use the Secret Service one).
    public init(store: any ClientSecretStore) {
        self.keyringLookup = { id in try await store.load(connection: id) }
    }

    public func secret(for connection: Connection) async throws -> String {
        if let path = connection.clientSecretFile {
            guard let data = FileManager.default.contents(atPath: path),
                  let text = String(data: data, encoding: .utf8) else {
                throw AgentError(.configuration, "Cannot read client_secret_file '\(path)' of connection '\(connection.id)'. Check that it exists and that you may read it.")
            }
            let secret = text.trimmingWhitespace()
            guard !secret.isEmpty else {
                throw AgentError(.configuration, "client_secret_file '\(path)' of connection '\(connection.id)' is empty.")
            }
            return secret
        }
        let stored: String?
        do {
            stored = try await keyringLookup(connection.id)
        } catch {
            throw KeyringFailure.agentError(error, connection: connection.id)
        }
        if let stored, !stored.isEmpty { return stored }
        throw AgentError(.configuration, "Connection '\(connection.id)' needs a client secret: set client_secret_file in \(connection.origin.file), or run `jira-auth-agent connections set-secret \(connection.id)` and paste it.")
    }

    /// A warning when the secret file can be read by group or others, else nil.
    public static func permissionWarning(for connection: Connection) -> String? {
        guard let path = connection.clientSecretFile,
              let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let mode = attributes[.posixPermissions] as? Int else { return nil }
        guard mode & 0o077 != 0 else { return nil }
        return "client_secret_file '\(path)' of connection '\(connection.id)' is readable by other users (mode \(String(mode, radix: 8))); run: chmod 600 '\(path)'"
    }
}
