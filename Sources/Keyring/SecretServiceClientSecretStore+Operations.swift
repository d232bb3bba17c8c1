import FoundationEssentials

/// The blocking halves of `SecretServiceClientSecretStore`, run on the keyring queue inside
/// `BoundedCaller.run`; the same search-without-unlocking approach as the token store.
extension SecretServiceClientSecretStore {
    func loadSecret(_ connection: String, _ call: BoundedCaller.Cancellation) throws -> Data? {
        try LibSecret.newestSecret([ClientSecretSchema.connection: connection], schema, call.pointer, connection: connection)
    }

    /// Creates (replacing one with the same attributes) the item in the default collection,
    /// then removes any other unlocked item of the connection (another collection).
    func saveSecret(_ secret: Data, _ connection: String, _ call: BoundedCaller.Cancellation) throws {
        let attributes = [ClientSecretSchema.connection: connection]
        try LibSecret.replaceItem(
            attributes, attributes: attributes, label: ClientSecretSchema.label(connection: connection),
            secret: secret, schema, call.pointer, connection: connection)
    }

    /// Deletes every item of the connection; `.locked` rather than unlocking.
    func deleteItems(_ connection: String, _ call: BoundedCaller.Cancellation) throws -> Bool {
        try LibSecret.deleteItems([ClientSecretSchema.connection: connection], schema, call.pointer, connection: connection)
    }
}
