public import FoundationEssentials
public import OAuth

/// What the proxy and the token API need from the sessions: a valid access token for a
/// connection, obtained with single flight (DESIGN §5). Implemented by `SessionRegistry`.
public protocol AccessTokenProvider: Sendable {
    /// The hot path: the cached access token if it is valid for `minValid` seconds, without
    /// suspending (a lock-protected read). `nil` means "ask `accessToken(...)`".
    func cachedAccessToken(connection: String, minValid: TimeInterval) -> String?

    /// A token valid for at least `minValid` seconds. With `interactive`, waits (bounded)
    /// for the one browser authorization when there is no usable token; otherwise throws
    /// `AgentError` with code `.authorizationRequired`.
    func accessToken(connection: String, minValid: TimeInterval, interactive: Bool) async throws -> TokenSet

    /// The gateway answered 401 `invalid_token` for `rejected`: refresh (once, shared by
    /// every caller that saw the same token) and return the new token set.
    func refreshAfterRejection(connection: String, rejected accessToken: String) async throws -> TokenSet

    /// Whether the connection's current token has only an assumed expiry (no `expires_in`).
    func expiryIsAssumed(connection: String) -> Bool
}

extension AccessTokenProvider {
    /// Whether the connection's current token has only an assumed expiry (the server gave no
    /// `expires_in`): then a plain 401 from the gateway counts as a refused token too.
    public func expiryIsAssumed(connection: String) -> Bool { false }
}
