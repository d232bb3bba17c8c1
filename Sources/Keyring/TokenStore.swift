import FoundationEssentials
public import OAuth

/// Who a stored token set belongs to: the Secret Service item's attributes (DESIGN §4).
public struct ItemIdentity: Sendable, Hashable, Codable {
    /// Attribute `connection`: the connection id from the catalog.
    public var connection: String
    /// Attribute `jira_url`: the Jira base URL users browse.
    public var jiraURL: String
    /// Attribute `account`: the Jira account, once known.
    public var account: String?
    /// The item's label in a keyring GUI, e.g. "Jira tokens — ACME".
    public var label: String

    public init(connection: String, jiraURL: String, account: String? = nil, label: String? = nil) {
        self.connection = connection
        self.jiraURL = jiraURL
        self.account = account
        self.label = label ?? "Jira tokens — \(connection)"
    }
}

/// One stored item as `list()` reports it: identity, never the secret.
public struct StoredItem: Sendable, Hashable {
    public var identity: ItemIdentity
    /// True when the item sits in a locked collection (its secret cannot be read now).
    public var locked: Bool
    public init(identity: ItemIdentity, locked: Bool) {
        self.identity = identity
        self.locked = locked
    }
}

/// Persistence of token sets, one atomic item per connection (DESIGN §4, SECURITY S6/S7).
///
/// `load` returns `nil` only when there is truly no item; a locked keyring, a missing
/// Secret Service or a time-out are thrown as `KeyringError`, never read as "no token".
public protocol TokenStore: Sendable {
    /// A short name for status output: "secret-service" or "memory".
    var kind: String { get }
    /// The token set of `connection`, or `nil` when there is no item for it.
    func load(connection: String) async throws -> TokenSet?
    /// Replaces the whole item atomically.
    func save(_ tokens: TokenSet, for identity: ItemIdentity) async throws
    /// Returns whether an item was there.
    @discardableResult func delete(connection: String) async throws -> Bool
    /// Identities of every stored item, locked ones included (`StoredItem.locked`).
    func list() async throws -> [StoredItem]
    /// A cheap probe for `jira-auth-agent status`: can tokens be read and written now?
    /// Never prompts and never throws; a failure is a `KeyringHealth` case.
    func health() async -> KeyringHealth
}
