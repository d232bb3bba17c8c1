/// Names of the Secret Service schema under which every item of the agent is stored
/// (DESIGN §4). Other tools find the items with exactly these strings, e.g.
/// `secret-tool search --all xdg:schema io.github.jira-auth-agent.Tokens connection acme`.
///
/// libsecret adds the schema name as the attribute `xdg:schema`; the other attributes are
/// strings. The libsecret object for this schema is `LibSecret.Schema`.
enum TokenSchema {
    /// The schema name (attribute `xdg:schema`).
    static let name = "io.github.jira-auth-agent.Tokens"

    /// Attribute `connection`: the connection id. Items are looked up by this alone.
    static let connection = "connection"
    /// Attribute `jira_url`: the Jira base URL users browse.
    static let jiraURL = "jira_url"
    /// Attribute `account`: the Jira account, empty until known.
    static let account = "account"

    /// Every attribute of the schema, all of type string.
    static let attributeNames = [connection, jiraURL, account]

    /// Content type of the secret: the JSON of `TokenSet.jsonData()`.
    static let contentType = "application/json"

    /// The attributes of an item for `identity`. `account` is stored as "" while unknown, so
    /// that every item carries the same attribute set.
    static func attributes(of identity: ItemIdentity) -> [String: String] {
        [
            connection: identity.connection,
            jiraURL: identity.jiraURL,
            account: identity.account ?? "",
        ]
    }

    /// The identity that an item's attributes and label describe. For an item in a locked
    /// gnome-keyring collection the Secret Service shows only hashes of the attribute values
    /// (`gkr:compat:hashed:connection`) and an empty label, so the fields come back empty.
    static func identity(attributes: [String: String], label: String) -> ItemIdentity {
        let account = attributes[account].flatMap { $0.isEmpty ? nil : $0 }
        return ItemIdentity(
            connection: attributes[connection] ?? "", jiraURL: attributes[jiraURL] ?? "",
            account: account, label: label)
    }
}
