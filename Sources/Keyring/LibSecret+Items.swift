import FoundationEssentials

/// The item operations both stores share (tokens, client secrets): one search without the
/// unlock flag, never a prompt; a locked match fails closed with `.locked`.
extension LibSecret {
    /// The secret of the newest unlocked item matching `query`; of several (left by a crash
    /// between create and delete in `replaceItem`) the newest wins. `nil` when none.
    static func newestSecret(
        _ query: [String: String], _ schema: Schema, _ cancellable: Cancellable, connection: String
    ) throws -> Data? {
        try withItems(query, schema: schema.name, loadSecrets: true, cancellable, connection: connection) { items in
            if items.contains(where: isLocked) {
                throw KeyringError(code: .locked, connection: connection)
            }
            guard let newest = items.max(by: { modified($0) < modified($1) }) else {
                return nil
            }
            guard let secret = readSecret(newest) else {
                throw KeyringError(
                    code: .other,
                    underlying: .init(domain: "jira-auth-agent", code: 0, message: "the item's secret was not sent"),
                    connection: connection)
            }
            return secret
        }
    }

    /// Creates the item in the default collection (replacing one with the same attributes),
    /// then removes every other unlocked item matching `query` (e.g. an old `account`). The new
    /// item is in place before anything is removed (SECURITY S6).
    static func replaceItem(
        _ query: [String: String], attributes: [String: String], label: String, secret: Data,
        _ schema: Schema, _ cancellable: Cancellable, connection: String
    ) throws {
        let path = try withDefaultCollection(cancellable, connection: connection) { collection in
            switch state(of: collection) {
            case .locked:
                throw KeyringError(code: .locked, connection: connection)
            case .missing:
                throw noDefaultCollection(connection)
            case .unlocked:
                return try createItem(
                    in: collection!, schema, attributes: attributes, label: label, secret: secret,
                    cancellable, connection: connection)
            }
        }
        try withItems(query, schema: schema.name, loadSecrets: false, cancellable, connection: connection) { items in
            for item in items where objectPath(item) != path && !isLocked(item) {
                try delete(item, cancellable, connection: connection)
            }
        }
    }

    /// Deletes every item matching `query`; refuses (`.locked`) when one of them is locked
    /// rather than asking the service to unlock it. Returns whether there was any.
    static func deleteItems(
        _ query: [String: String], _ schema: Schema, _ cancellable: Cancellable, connection: String
    ) throws -> Bool {
        try withItems(query, schema: schema.name, loadSecrets: false, cancellable, connection: connection) { items in
            if items.contains(where: isLocked) {
                throw KeyringError(code: .locked, connection: connection)
            }
            for item in items {
                try delete(item, cancellable, connection: connection)
            }
            return !items.isEmpty
        }
    }

    static func noDefaultCollection(_ connection: String?) -> KeyringError {
        KeyringError(
            code: .unavailable,
            underlying: .init(
                domain: "jira-auth-agent", code: 0,
                message: "the Secret Service has no default collection (login keyring)"),
            connection: connection)
    }
}
