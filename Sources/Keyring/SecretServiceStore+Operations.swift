import Foundation

/// The blocking halves of the store's operations: each runs on the keyring queue inside
/// `BoundedCaller.run`, in as few Secret Service round trips as the semantics allow.
extension SecretServiceStore {
    /// One search (all collections, locked included, secrets of unlocked items loaded). Any
    /// locked match fails closed with `.locked` (it may hold newer tokens than an unlocked one);
    /// of several unlocked matches (left by a crash in `saveSecret`) the newest wins.
    func loadSecret(_ connection: String, _ call: BoundedCaller.Cancellation) throws -> Data? {
        let query = [TokenSchema.connection: connection]
        return try LibSecret.withItems(
            query, loadSecrets: true, call.pointer, connection: connection
        ) { items in
            if items.contains(where: LibSecret.isLocked) {
                throw KeyringError(code: .locked, connection: connection)
            }
            guard let newest = items.max(by: { LibSecret.modified($0) < LibSecret.modified($1) }) else {
                return nil
            }
            guard let secret = LibSecret.readSecret(newest) else {
                throw KeyringError(
                    code: .other,
                    underlying: .init(
                        domain: "jira-auth-agent", code: 0, message: "the item's secret was not sent"),
                    connection: connection)
            }
            return secret
        }
    }

    /// Writes the item into the default collection (replacing one with the same attributes),
    /// then removes any other item of the connection (an old `account` or `jira_url`). The new
    /// token set is in place before anything is removed (SECURITY S6).
    func saveSecret(
        _ secret: Data, _ identity: ItemIdentity, _ call: BoundedCaller.Cancellation
    ) throws {
        let connection = identity.connection
        let path = try LibSecret.withDefaultCollection(call.pointer, connection: connection) { collection in
            switch LibSecret.state(of: collection) {
            case .locked:
                throw KeyringError(code: .locked, connection: connection)
            case .missing:
                throw Self.noDefaultCollection(connection)
            case .unlocked:
                return try LibSecret.createItem(
                    in: collection!, schema, attributes: TokenSchema.attributes(of: identity),
                    label: identity.label, secret: secret, call.pointer, connection: connection)
            }
        }
        let query = [TokenSchema.connection: connection]
        try LibSecret.withItems(query, loadSecrets: false, call.pointer, connection: connection) {
            items in
            for item in items where LibSecret.objectPath(item) != path && !LibSecret.isLocked(item) {
                try LibSecret.delete(item, call.pointer, connection: connection)
            }
        }
    }

    /// Deletes every item of the connection; refuses (`.locked`) when one of them is locked
    /// rather than asking the service to unlock it.
    func deleteItems(_ connection: String, _ call: BoundedCaller.Cancellation) throws -> Bool {
        let query = [TokenSchema.connection: connection]
        return try LibSecret.withItems(
            query, loadSecrets: false, call.pointer, connection: connection
        ) { items in
            if items.contains(where: LibSecret.isLocked) {
                throw KeyringError(code: .locked, connection: connection)
            }
            for item in items {
                try LibSecret.delete(item, call.pointer, connection: connection)
            }
            return !items.isEmpty
        }
    }

    /// Every item of the schema, locked ones included (their attributes are hidden: see
    /// `TokenSchema.identity`), sorted by connection.
    func listItems(_ call: BoundedCaller.Cancellation) throws -> [StoredItem] {
        try LibSecret.withItems([:], loadSecrets: false, call.pointer, connection: nil) { items in
            items.map { item in
                StoredItem(
                    identity: TokenSchema.identity(
                        attributes: LibSecret.allAttributes(item), label: LibSecret.label(item)),
                    locked: LibSecret.isLocked(item))
            }
            .sorted { ($0.identity.connection, $0.identity.label) < ($1.identity.connection, $1.identity.label) }
        }
    }

    func probe(_ call: BoundedCaller.Cancellation) throws -> KeyringHealth {
        try LibSecret.withDefaultCollection(call.pointer, connection: nil) { collection in
            switch LibSecret.state(of: collection) {
            case .unlocked: .ok
            case .locked: .locked
            case .missing: KeyringHealth(Self.noDefaultCollection(nil))
            }
        }
    }

    private static func noDefaultCollection(_ connection: String?) -> KeyringError {
        KeyringError(
            code: .unavailable,
            underlying: .init(
                domain: "jira-auth-agent", code: 0,
                message: "the Secret Service has no default collection (login keyring)"),
            connection: connection)
    }
}
