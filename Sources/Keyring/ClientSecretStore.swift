import FoundationEssentials

/// Persistence of OAuth client secrets, one item per connection (DESIGN §3): what
/// `jira-auth-agent connections set-secret` writes and the agent reads when a connection has
/// no `client_secret_file`.
///
/// As with `TokenStore`, `load` returns `nil` only when there is truly no item; a locked
/// keyring, a missing Secret Service or a time-out are thrown as `KeyringError`.
public protocol ClientSecretStore: Sendable {
    /// The client secret of `connection`, or `nil` when none is stored.
    func load(connection: String) async throws -> String?
    /// Stores (or replaces) the client secret of `connection`.
    func save(_ secret: String, connection: String) async throws
    /// Removes it; returns whether one was there.
    @discardableResult func delete(connection: String) async throws -> Bool
}

/// Client secrets in the Secret Service: schema `io.github.jira-auth-agent.ClientSecret`,
/// attribute `connection`, label "Jira client secret — <id>", the secret as UTF-8 text.
///
/// The same rules as `SecretServiceStore`: every call bounded by `timeout`, nothing ever
/// asks the service to unlock (no prompt, no `secret_password_*v_sync`), a locked item or
/// collection is `.locked`, never "no secret".
public final class SecretServiceClientSecretStore: ClientSecretStore {
    /// The bound on each call to the Secret Service.
    public let timeout: Duration

    let schema = LibSecret.schemas.clientSecrets
    let caller = BoundedCaller()

    public init(timeout: Duration = .seconds(5)) {
        self.timeout = timeout
    }

    public func load(connection: String) async throws -> String? {
        guard var data = try await run(connection, { try self.loadSecret(connection, $0) }) else { return nil }
        defer { data.resetBytes(in: 0..<data.count) }
        guard let secret = String(data: data, encoding: .utf8) else {
            throw KeyringError(
                code: .other,
                underlying: .init(domain: "jira-auth-agent", code: 0, message: "the client secret item does not hold text"),
                connection: connection)
        }
        return secret
    }

    public func save(_ secret: String, connection: String) async throws {
        let data = Data(secret.utf8)
        try await run(connection) { try self.saveSecret(data, connection, $0) }
    }

    @discardableResult
    public func delete(connection: String) async throws -> Bool {
        try await run(connection) { try self.deleteItems(connection, $0) }
    }

    private func run<T: Sendable>(
        _ connection: String, _ body: @escaping @Sendable (BoundedCaller.Cancellation) throws -> T
    ) async throws -> T {
        try await caller.run(within: timeout, connection: connection, body)
    }
}
