/// Names of the Secret Service schema under which `jira-auth-agent connections set-secret`
/// keeps a connection's OAuth client secret (DESIGN §3: the alternative to
/// `client_secret_file`). One item per connection, separate from its token set, e.g.
/// `secret-tool search --all xdg:schema io.github.jira-auth-agent.ClientSecret connection acme`.
enum ClientSecretSchema {
    /// The schema name (attribute `xdg:schema`).
    static let name = "io.github.jira-auth-agent.ClientSecret"

    /// Attribute `connection`: the connection id. The only attribute; items are found by it.
    static let connection = "connection"

    static let attributeNames = [connection]

    /// Content type of the secret: the client secret as UTF-8 text.
    static let contentType = "text/plain"

    /// The item's label in a keyring GUI.
    static func label(connection: String) -> String { "Jira client secret — \(connection)" }
}
