// C-touching file (STYLE §8): libsecret and GLib objects, each created and freed in one place.
import CLibSecret
import FoundationEssentials

/// Thin, synchronous wrappers over the libsecret calls that `SecretServiceStore` needs. Every
/// function blocks: call them only inside `BoundedCaller.run` with its `GCancellable`.
///
/// Only the `…v`/`GHashTable` forms are used: variadic C functions cannot be called from Swift.
/// Nothing here ever asks the Secret Service to unlock or to create a collection, because both
/// may show a prompt; the convenience calls `secret_password_lookupv_sync`, `…storev_sync` and
/// `…clearv_sync` do exactly that on a locked keyring (measured with `secret-tool`, which
/// uses them: each activated `org.gnome.keyring.SystemPrompter`), so they are not used.
enum LibSecret {
    typealias Cancellable = UnsafeMutablePointer<GCancellable>
    typealias Item = UnsafeMutablePointer<SecretItem>

    /// A libsecret schema object (`TokenSchema`, `ClientSecretSchema`), made with
    /// `secret_schema_newv`.
    final class Schema: @unchecked Sendable {
        /// Immutable after init; libsecret reference-counts it atomically.
        let pointer: UnsafeMutablePointer<SecretSchema>
        /// The schema name (attribute `xdg:schema`).
        let name: String
        /// Content type of the items' secrets.
        let contentType: String

        init(name: String, attributeNames: [String], contentType: String) {
            self.name = name
            self.contentType = contentType
            // Values are SecretSchemaAttributeType as pointers: STRING is 0, i.e. NULL; no
            // value destructor.
            let types = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, nil)
            defer { g_hash_table_unref(types) }
            for attribute in attributeNames {
                let type = UInt(SECRET_SCHEMA_ATTRIBUTE_STRING.rawValue)
                g_hash_table_insert(types, g_strdup(attribute), UnsafeMutableRawPointer(bitPattern: type))
            }
            pointer = secret_schema_newv(name, SECRET_SCHEMA_NONE, types)
        }

        deinit { secret_schema_unref(pointer) }
    }

    /// The agent's two schemas, made once per process, both by the same thread (one static
    /// initializer). `secret_schema_newv` looks up the attribute type's GLib enum class;
    /// two of them made at once on two threads (two stores created in parallel) now and then
    /// got no class there — GLib 2.74 logs `g_enum_get_value: assertion
    /// 'G_IS_ENUM_CLASS (enum_class)' failed` — and left the attribute out of the schema.
    /// Every save through that schema then stored nothing (libsecret refuses attributes the
    /// schema lacks, returning no item and no error): about one run in three of the keyring
    /// suite, repeated, before this.
    static let schemas = (
        tokens: Schema(name: TokenSchema.name, attributeNames: TokenSchema.attributeNames,
                       contentType: TokenSchema.contentType),
        clientSecrets: Schema(name: ClientSecretSchema.name, attributeNames: ClientSecretSchema.attributeNames,
                              contentType: ClientSecretSchema.contentType))

    /// Calls `body` with a `GHashTable` of `attributes` (string → string, both copied with
    /// `g_strdup`) and unrefs it afterwards: the one place attribute tables are freed.
    static func withAttributes<R>(
        _ attributes: [String: String], _ body: (OpaquePointer) throws -> R
    ) rethrows -> R {
        let table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free)!
        defer { g_hash_table_unref(table) }
        for (key, value) in attributes {
            g_hash_table_insert(table, g_strdup(key), g_strdup(value))
        }
        return try body(table)
    }

    /// Calls `body` with a `SecretValue` holding a copy of `secret` (libsecret keeps it in
    /// non-pageable memory and wipes it when freed), then unrefs it.
    static func withSecretValue<R>(
        _ secret: Data, contentType: String, _ body: (OpaquePointer) throws -> R
    ) rethrows -> R {
        let value = secret.withUnsafeBytes { bytes in
            secret_value_new(
                bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count,
                contentType)!
        }
        defer { secret_value_unref(UnsafeMutableRawPointer(value)) }
        return try body(value)
    }

    /// Searches all collections for items of `schema` with `attributes`, locked ones included, never
    /// unlocking (no prompt). With `loadSecrets`, secrets of unlocked items are loaded too
    /// (`readSecret`). Calls `body` with the items and frees the list and its items
    /// afterwards: the one place search results are freed.
    ///
    /// The search does not pass the schema: gnome-keyring cannot match `xdg:schema` on items
    /// of a locked collection (measured: `SearchItems {xdg:schema, connection}` returns no
    /// locked path, `{connection}` does), so a schema search would read "locked" as "absent".
    /// Results are filtered to the schema by `isOf` instead.
    static func withItems<R>(
        _ attributes: [String: String], schema: String = TokenSchema.name, loadSecrets: Bool,
        _ cancellable: Cancellable, connection: String?, _ body: ([Item]) throws -> R
    ) throws -> R {
        var flags = SECRET_SEARCH_ALL.rawValue
        if loadSecrets { flags |= SECRET_SEARCH_LOAD_SECRETS.rawValue }
        // An item deleted by another client between SearchItems and the loading of its
        // properties fails the whole search with NoSuchObject (seen with concurrent tests):
        // search again, within the same deadline. A search of every item (`list`, for
        // `status`) while other clients add and remove items can lose that race several times
        // in a row (three attempts were not always enough for the test suite's churn).
        var attempt = 1
        var list: UnsafeMutablePointer<GList>?
        while true {
            var error: UnsafeMutablePointer<GError>?
            list = withAttributes(attributes) { table in
                secret_service_search_sync(
                    nil, nil, table, SecretSearchFlags(rawValue: flags), cancellable, &error)
            }
            do {
                try KeyringError.check(&error, connection: connection)
                break
            } catch let error as KeyringError where error.isVanishedItem && attempt < 10 {
                attempt += 1
            }
        }
        defer { g_list_free_full(list, g_object_unref) }
        var items: [Item] = []
        var node = list
        while let current = node {
            if let data = current.pointee.data {
                let item = data.assumingMemoryBound(to: SecretItem.self)
                if isOf(schema: schema, item) { items.append(item) }
            }
            node = current.pointee.next
        }
        return try body(items)
    }

    /// Whether an item belongs to the schema named `schema`. A locked gnome-keyring item
    /// shows its attributes only as MD5 hashes (`gkr:compat:hashed:NAME`) and a placeholder
    /// `xdg:schema` of `org.freedesktop.Secret.Generic` (measured); a locked item whose
    /// schema cannot be told at all counts as ours, so that "locked" fails closed.
    static func isOf(schema: String, _ item: Item) -> Bool {
        let attributes = allAttributes(item)
        guard isLocked(item) else { return attributes["xdg:schema"] == schema }
        if let hashed = attributes["gkr:compat:hashed:xdg:schema"] { return hashed == md5Hex(schema) }
        switch attributes["xdg:schema"] {
        case nil, "org.freedesktop.Secret.Generic": return true
        case let name?: return name == schema
        }
    }

    /// gnome-keyring's hash of an attribute value: MD5, in hex (measured).
    private static func md5Hex(_ value: String) -> String {
        guard let digest = g_compute_checksum_for_string(G_CHECKSUM_MD5, value, -1) else { return "" }
        defer { g_free(digest) }
        return String(cString: digest)
    }

    /// A copy of the item's secret, loaded by a search with `loadSecrets`; `nil` when it was
    /// not loaded (locked item). The `SecretValue` is unreffed (and wiped) here.
    static func readSecret(_ item: Item) -> Data? {
        guard let value = secret_item_get_secret(item) else { return nil }
        defer { secret_value_unref(UnsafeMutableRawPointer(value)) }
        var length = 0
        guard let bytes = secret_value_get(value, &length) else { return nil }
        return Data(bytes: bytes, count: length)
    }

    static func isLocked(_ item: Item) -> Bool { secret_item_get_locked(item) != 0 }

    static func modified(_ item: Item) -> UInt64 { UInt64(secret_item_get_modified(item)) }

    /// The D-Bus object path, which identifies an item within the service.
    static func objectPath(_ item: Item) -> String {
        g_dbus_proxy_get_object_path(UnsafeMutablePointer<GDBusProxy>(OpaquePointer(item)))
            .map { String(cString: $0) } ?? ""
    }

    static func label(_ item: Item) -> String {
        guard let label = secret_item_get_label(item) else { return "" }
        defer { g_free(label) }
        return String(cString: label)
    }

    /// The item's attributes as the service reports them (hashed names for locked items).
    static func allAttributes(_ item: Item) -> [String: String] {
        guard let table = secret_item_get_attributes(item) else { return [:] }
        defer { g_hash_table_unref(table) }
        var result: [String: String] = [:]
        var iterator = GHashTableIter()
        g_hash_table_iter_init(&iterator, table)
        var key: gpointer?
        var value: gpointer?
        while g_hash_table_iter_next(&iterator, &key, &value) != 0 {
            guard let key, let value else { continue }
            result[String(cString: key.assumingMemoryBound(to: CChar.self))] =
                String(cString: value.assumingMemoryBound(to: CChar.self))
        }
        return result
    }

    static func delete(_ item: Item, _ cancellable: Cancellable, connection: String?) throws {
        var error: UnsafeMutablePointer<GError>?
        _ = secret_item_delete_sync(item, cancellable, &error)
        do {
            try KeyringError.check(&error, connection: connection)
        } catch let error as KeyringError where error.isVanishedItem {
            return  // deleted meanwhile by another client: the outcome we wanted
        }
    }
}
