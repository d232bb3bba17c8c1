public import OAuth

/// Token sets kept in this process's memory only: **every token is lost when the process
/// exits**, and the user must authorize again after each restart.
///
/// Used only when asked for (`jira-auth-agent serve --memory-store`, SECURITY S7: there is no
/// silent fallback to it when the Secret Service is missing) and as the store of tests. It
/// honours the same contract as `SecretServiceStore` (one item per connection, `save`
/// replaces it whole) and is never locked, unavailable or slow.
public actor MemoryStore: TokenStore {
    public nonisolated let kind = "memory"

    private var items: [String: (identity: ItemIdentity, tokens: TokenSet)] = [:]

    public init() {}

    public func load(connection: String) -> TokenSet? {
        items[connection]?.tokens
    }

    public func save(_ tokens: TokenSet, for identity: ItemIdentity) {
        items[identity.connection] = (identity, tokens)
    }

    @discardableResult
    public func delete(connection: String) -> Bool {
        items.removeValue(forKey: connection) != nil
    }

    public func list() -> [StoredItem] {
        items.values
            .map { StoredItem(identity: $0.identity, locked: false) }
            .sorted { $0.identity.connection < $1.identity.connection }
    }

    public func health() -> KeyringHealth { .ok }
}
