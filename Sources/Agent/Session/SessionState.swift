public import FoundationEssentials
public import OAuth

/// The explicit states of one connection's session (DESIGN §5, STYLE §7).
public enum SessionState: Sendable {
    /// Not yet read from the keyring.
    case unloaded
    /// No tokens: a login is needed.
    case unauthorized
    /// A browser or device authorization is in progress.
    case authorizing
    /// Tokens held (and persisted).
    case authorized(TokenSet)
    /// A refresh is in flight; the old tokens are still held.
    case refreshing(TokenSet)
    /// The grant is dead (e.g. `invalid_grant`): the user must sign in again. The stored
    /// record is kept for `status`.
    case needsReauthorization(reason: String, account: String?)
    /// The user revoked access.
    case revoked

    /// A stable name for status output and the token API.
    public var name: String {
        switch self {
        case .unloaded: return "unknown"
        case .unauthorized: return "unauthorized"
        case .authorizing: return "authorizing"
        case .authorized: return "authorized"
        case .refreshing: return "refreshing"
        case .needsReauthorization: return "needs_authorization"
        case .revoked: return "revoked"
        }
    }

    var tokens: TokenSet? {
        switch self {
        case .authorized(let t), .refreshing(let t): return t
        default: return nil
        }
    }
}

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

    enum CodingKeys: String, CodingKey {
        case connection, name, state, account
        case expiresAt = "expires_at", nextRefresh = "next_refresh", lastRefresh = "last_refresh"
        case lastError = "last_error", hasRefreshToken = "has_refresh_token"
        case jiraURL = "jira_url", apiURL = "api_url", origin, isDefault = "default"
        case insecureLoopbackHTTP = "insecure_loopback_http", authorizationPrompt = "authorization_prompt"
    }
}
