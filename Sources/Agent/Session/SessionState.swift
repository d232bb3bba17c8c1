public import FoundationEssentials

/// What `status` shows for one connection. Never a token.
public struct SessionStatus: Sendable, Codable {
    public var connection: String
    public var name: String
    public var state: String
    public var account: String?
    public var expiresAt: Date?
    public var nextRefresh: Date?
    public var lastRefresh: Date?
    public var lastError: String?
    public var hasRefreshToken: Bool
    public var jiraURL: String
    public var apiURL: String
    public var origin: String
    public var isDefault: Bool
    public var insecureLoopbackHTTP: Bool
    /// While an authorization runs: what the person must do (the local start URL to open,
    /// or a device code). The URL is one-time and reachable only from this machine.
    public var authorizationPrompt: String?
    /// Renewed tokens the keyring could not take yet: held in memory, saved when it can.
    public var savePending = false
    /// A revocation the server did not confirm, or whose keyring write is still owed.
    public var revocationPending = false
    /// Refresh failures in a row (transient), and when the agent tries again.
    public var refreshFailures = 0
    public var retryAt: Date?
    /// The server gave no `expires_in`: the expiry shown is the agent's assumption.
    public var expiryAssumed = false
    /// A server problem worth telling the admin (an absurd token lifetime).
    public var serverNote: String?

    enum CodingKeys: String, CodingKey {
        case connection, name, state, account
        case expiresAt = "expires_at", nextRefresh = "next_refresh", lastRefresh = "last_refresh"
        case lastError = "last_error", hasRefreshToken = "has_refresh_token"
        case jiraURL = "jira_url", apiURL = "api_url", origin, isDefault = "default"
        case insecureLoopbackHTTP = "insecure_loopback_http", authorizationPrompt = "authorization_prompt"
        case savePending = "save_pending", revocationPending = "revocation_pending"
        case refreshFailures = "refresh_failures", retryAt = "retry_at", expiryAssumed = "expiry_assumed"
        case serverNote = "server_note"
    }
}
