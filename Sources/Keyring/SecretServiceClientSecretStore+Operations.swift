import Foundation

/// The blocking halves of `SecretServiceClientSecretStore`, run on the keyring queue inside
/// `BoundedCaller.run`; the same search-without-unlocking approach as the token store.
extension SecretServiceClientSecretStore {
    func loadSecret(_ connection: String, _ call: BoundedCaller.Cancellation) throws -> Data? {
        try LibSecret.withItems(
            [ClientSecretSchema.connection: connection], schema: ClientSecretSchema.name,
            loadSecrets: true, call.pointer, connection: connection
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
                    underlying: .init(domain: "jira-auth-agent", code: 0, message: "the item's secret was not sent"),
                    connection: connection)
            }
            return secret
        }
    }

    /// Creates (replacing one with the same attributes) the item in the default collection,
    /// then removes any other unlocked item of the connection (another collection).
    func saveSecret(_ secret: Data, _ connection: String, _ call: BoundedCaller.Cancellation) throws {
        let attributes = [ClientSecretSchema.connection: connection]
        let path = try LibSecret.withDefaultCollection(call.pointer, connection: connection) { collection in
            switch LibSecret.state(of: collection) {
            case .locked:
                throw KeyringError(code: .locked, connection: connection)
            case .missing:
                throw KeyringError(
                    code: .unavailable,
                    underlying: .init(
                        domain: "jira-auth-agent", code: 0,
                        message: "the Secret Service has no default collection (login keyring)"),
                    connection: connection)
            case .unlocked:
                return try LibSecret.createItem(
                    in: collection!, schema, attributes: attributes,
                    label: ClientSecretSchema.label(connection: connection), secret: secret,
                    call.pointer, connection: connection)
            }
        }
        try LibSecret.withItems(
            attributes, schema: ClientSecretSchema.name, loadSecrets: false, call.pointer, connection: connection
        ) { items in
            for item in items where LibSecret.objectPath(item) != path && !LibSecret.isLocked(item) {
                try LibSecret.delete(item, call.pointer, connection: connection)
            }
        }
    }

    /// Deletes every item of the connection; `.locked` rather than unlocking.
    func deleteItems(_ connection: String, _ call: BoundedCaller.Cancellation) throws -> Bool {
        try LibSecret.withItems(
            [ClientSecretSchema.connection: connection], schema: ClientSecretSchema.name,
            loadSecrets: false, call.pointer, connection: connection
        ) { items in
            if items.contains(where: LibSecret.isLocked) {
                throw KeyringError(code: .locked, connection: connection)
            }
            for item in items { try LibSecret.delete(item, call.pointer, connection: connection) }
            return !items.isEmpty
        }
    }
}
