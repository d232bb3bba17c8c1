public import FoundationEssentials

/// The whole set of tokens one successful token response grants for one connection
/// (RFC 6749 §5.1), with the expiry turned into an absolute time so that it survives
/// restarts and suspends. This is what the keyring stores, as one JSON secret.
///
/// Wire/stored field names: `access_token`, `refresh_token`, `token_type`, `expires_at`
/// (seconds since 1970), `scope`, `id_token`, `obtained_at`, `account`, `issued_for`.
public struct TokenSet: Sendable, Equatable, Codable {
    /// `access_token`: the bearer credential sent to the gateway.
    public var accessToken: String
    /// `refresh_token`: long-lived; never leaves the agent (SECURITY S8).
    public var refreshToken: String?
    /// `token_type`: always `Bearer` after validation (RFC 6750).
    public var tokenType: String
    /// Absolute expiry of the access token; `nil` when the server gave no `expires_in`.
    public var expiresAt: Date?
    /// `scope` as granted (RFC 6749 §3.3).
    public var scope: String?
    /// OpenID Connect `id_token`, when the scope asked for `openid`.
    public var idToken: String?
    /// When the token endpoint answered.
    public var obtainedAt: Date
    /// The Jira account name learnt from `/rest/api/2/myself` after authorization.
    public var account: String?
    /// Which server configuration the tokens belong to (the agent stores its authorization
    /// server and API base here), so that tokens are never sent to a server they were not
    /// issued for after a connection is edited. `nil` in items written before it existed.
    public var issuedFor: String?
    /// The server gave no `expires_in`: `expiresAt` is the agent's bounded assumption, and a
    /// plain 401 from the gateway is taken as an expired token.
    public var expiryAssumed: Bool?
    /// The user revoked these tokens and the server did not confirm: kept only so that
    /// `revoke` run again finishes it; never used for requests.
    public var revocationPending: Bool?

    public init(
        accessToken: String, refreshToken: String? = nil, tokenType: String = "Bearer",
        expiresAt: Date? = nil, scope: String? = nil, idToken: String? = nil,
        obtainedAt: Date = Date(), account: String? = nil
    ) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.tokenType = tokenType
        self.expiresAt = expiresAt
        self.scope = scope
        self.idToken = idToken
        self.obtainedAt = obtainedAt
        self.account = account
    }

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token", refreshToken = "refresh_token"
        case tokenType = "token_type", expiresAt = "expires_at", scope
        case idToken = "id_token", obtainedAt = "obtained_at", account, issuedFor = "issued_for"
        case expiryAssumed = "expiry_assumed", revocationPending = "revocation_pending"
    }

    /// Seconds of validity left at `now`; `nil` when the expiry is unknown.
    public func remainingValidity(at now: Date) -> TimeInterval? {
        expiresAt.map { $0.timeIntervalSince(now) }
    }

    /// Whether the access token is still good for at least `minValid` seconds.
    /// A token without a known expiry counts as valid (the gateway's 401 will tell).
    public func isValid(for minValid: TimeInterval, at now: Date) -> Bool {
        guard let left = remainingValidity(at: now) else { return true }
        return left >= minValid
    }
}

extension TokenSet: CustomStringConvertible, CustomDebugStringConvertible {
    /// Never prints a token (SECURITY S11): logs and string interpolation see only shape.
    public var description: String {
        // Formatted without Int(_:), which traps on a corrupt huge date (SECURITY S10).
        let exp = expiresAt.map { date -> String in
            let t = date.timeIntervalSince1970.rounded()
            return t.isFinite && abs(t) < 1e18 ? String(Int64(t)) : "\(t)"
        } ?? "none"
        return "TokenSet(type: \(tokenType), refresh: \(refreshToken != nil), expires_at: \(exp), account: \(account ?? "-"))"
    }
    public var debugDescription: String { description }
}
