import FoundationEssentials

/// The blocking halves of the store's operations: each runs on the keyring queue inside
/// `BoundedCaller.run`, in as few Secret Service round trips as the semantics allow.
extension SecretServiceStore {
    /// One search (all collections, locked included, secrets of unlocked items loaded). Any
    /// locked match fails closed with `.locked` (it may hold newer tokens than an unlocked one).
    func loadSecret(_ connection: String, _ call: BoundedCaller.Cancellation) throws -> Data? {
        try LibSecret.newestSecret([TokenSchema.connection: connection], schema, call.pointer, connection: connection)
    }

    /// Writes the item into the default collection, then removes any other item of the
    /// connection (an old `account` or `jira_url`).
    func saveSecret(
        _ secret: Data, _ identity: ItemIdentity, _ call: BoundedCaller.Cancellation
    ) throws {
        try LibSecret.replaceItem(
            [TokenSchema.connection: identity.connection], attributes: TokenSchema.attributes(of: identity),
            label: identity.label, secret: secret, schema, call.pointer, connection: identity.connection)
    }

    /// Deletes every item of the connection; `.locked` rather than unlocking.
    func deleteItems(_ connection: String, _ call: BoundedCaller.Cancellation) throws -> Bool {
        try LibSecret.deleteItems([TokenSchema.connection: connection], schema, call.pointer, connection: connection)
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
            case .missing: KeyringHealth(LibSecret.noDefaultCollection(nil))
            }
        }
    }
}
