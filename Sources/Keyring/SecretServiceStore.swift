import FoundationEssentials
public import OAuth

/// Token sets in the Secret Service (gnome-keyring, KeePassXC, …) through libsecret: one item
/// per connection in the default collection, the whole `TokenSet` as one JSON secret, so an
/// update is atomic (DESIGN §4, SECURITY S6/S7).
///
/// - Items: schema `io.github.jira-auth-agent.Tokens`, attributes `connection`, `jira_url`,
///   `account`, label from `ItemIdentity.label`; found by `connection` alone.
/// - States are told apart and thrown, never read as "no token": `.locked` (the item or the
///   default collection is locked), `.unavailable` (no D-Bus or no Secret Service),
///   `.timedOut` (every call is bounded by `timeout`), `.corrupt` (not our JSON).
/// - Never prompts: nothing here asks the service to unlock or create a collection, so a
///   daemon never pops up a dialog; the user unlocks the keyring (see `KeyringError`).
/// - Blocking libsecret calls run on a private queue, never on the Swift concurrency pool.
public final class SecretServiceStore: TokenStore {
    public let kind = "secret-service"
    /// The bound on each call to the Secret Service.
    public let timeout: Duration

    let schema = LibSecret.schemas.tokens
    let caller = BoundedCaller()

    /// - Parameter timeout: bound on each call; an unanswered call otherwise blocks for 50 s.
    public init(timeout: Duration = .seconds(5)) {
        self.timeout = timeout
    }

    public func load(connection: String) async throws -> TokenSet? {
        guard var secret = try await run(connection, { try self.loadSecret(connection, $0) }) else {
            return nil
        }
        defer { secret.resetBytes(in: 0..<secret.count) }
        do {
            return try TokenSet(jsonData: secret)
        } catch {
            // The decoder's message is not passed on: it may quote the secret.
            throw KeyringError(
                code: .corrupt,
                underlying: .init(domain: "jira-auth-agent", code: 0, message: "not a JSON token set"),
                connection: connection)
        }
    }

    public func save(_ tokens: TokenSet, for identity: ItemIdentity) async throws {
        let secret = try tokens.jsonData()
        try await run(identity.connection) { try self.saveSecret(secret, identity, $0) }
    }

    @discardableResult
    public func delete(connection: String) async throws -> Bool {
        try await run(connection) { try self.deleteItems(connection, $0) }
    }

    public func list() async throws -> [StoredItem] {
        try await run(nil) { try self.listItems($0) }
    }

    /// `.ok` when the Secret Service answers and the default collection is unlocked.
    public func health() async -> KeyringHealth {
        do {
            return try await run(nil) { try self.probe($0) }
        } catch let error as KeyringError {
            return KeyringHealth(error)
        } catch {
            return .unavailable("The keyring check was cancelled.")
        }
    }

    private func run<T: Sendable>(
        _ connection: String?, _ body: @escaping @Sendable (BoundedCaller.Cancellation) throws -> T
    ) async throws -> T {
        try await caller.run(within: timeout, connection: connection, body)
    }
}
