/// What a request to the redirect URI means for the login in progress.
public enum CallbackOutcome: Sendable, Equatable {
    /// The authorization code (RFC 6749 §4.1.2): redeem it once with `TokenRequest`.
    case code(String)
    /// The right `state`, but the flow has failed: an error response (§4.1.2.1,
    /// `access_denied` → `.accessDenied`), a wrong or missing `iss` (RFC 9207 §2.4), or
    /// no code. The login ends with this error.
    case denied(OAuthError)
    /// Not this login's response (missing or wrong `state`, repeated parameters, not a
    /// URL): answer it and keep waiting (SECURITY S1). `reason` holds no secret.
    case ignore(reason: String)
}
