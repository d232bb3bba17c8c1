// C-touching file (STYLE §8): the service, the default collection and item creation.
import CLibSecret
import FoundationEssentials

extension LibSecret {
    /// What the default collection (alias `default`, usually the login keyring) looks like.
    enum DefaultCollection {
        case unlocked
        case locked
        /// No collection has the alias; creating one would prompt, so the agent does not.
        case missing
    }

    /// Calls `body` with the default collection (or `nil` when there is none), then unrefs
    /// it and the service: the one place these objects are freed.
    static func withDefaultCollection<R>(
        _ cancellable: Cancellable, connection: String?,
        _ body: (UnsafeMutablePointer<SecretCollection>?) throws -> R
    ) throws -> R {
        var error: UnsafeMutablePointer<GError>?
        let service = secret_service_get_sync(SECRET_SERVICE_NONE, cancellable, &error)
        defer { if let service { g_object_unref(service) } }
        try KeyringError.check(&error, connection: connection)
        let collection = secret_collection_for_alias_sync(
            service, SECRET_COLLECTION_DEFAULT, SECRET_COLLECTION_NONE, cancellable, &error)
        defer { if let collection { g_object_unref(collection) } }
        try KeyringError.check(&error, connection: connection)
        return try body(collection)
    }

    static func state(of collection: UnsafeMutablePointer<SecretCollection>?) -> DefaultCollection {
        guard let collection else { return .missing }
        return secret_collection_get_locked(collection) != 0 ? .locked : .unlocked
    }

    /// Creates (or, with the same attributes, replaces) an item in `collection` and returns
    /// its object path. `secret_item_create_sync` never unlocks: a locked collection fails
    /// with `SECRET_ERROR_IS_LOCKED`.
    ///
    /// libsecret can also return no item and no error (it refuses attributes its schema
    /// lacks that way, with only a GLib warning on stderr). That is no success: nothing was
    /// stored, and the caller must not go on to remove the connection's other items.
    static func createItem(
        in collection: UnsafeMutablePointer<SecretCollection>, _ schema: Schema,
        attributes: [String: String], label: String, secret: Data,
        _ cancellable: Cancellable, connection: String?
    ) throws -> String {
        var error: UnsafeMutablePointer<GError>?
        let item = withAttributes(attributes) { table in
            withSecretValue(secret, contentType: schema.contentType) { value in
                secret_item_create_sync(
                    collection, schema.pointer, table, label, value, SECRET_ITEM_CREATE_REPLACE,
                    cancellable, &error)
            }
        }
        defer { if let item { g_object_unref(item) } }
        try KeyringError.check(&error, connection: connection)
        guard let item, case let path = objectPath(item), !path.isEmpty else {
            throw KeyringError(
                code: .other,
                underlying: .init(domain: "jira-auth-agent", code: 0,
                    message: "libsecret stored nothing and reported no error (its warning, if any, is on stderr); the keyring was left as it was"),
                connection: connection)
        }
        return path
    }
}
