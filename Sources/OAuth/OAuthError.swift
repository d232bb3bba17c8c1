import FoundationEssentials

/// The one error type of the OAuth module: what went wrong in the protocol, the server's
/// own words when it sent an RFC 6749 §5.2 error response, and the HTTP status.
///
/// Classification follows AppAuth: an OAuth error from the token endpoint means the
/// grant is dead and the user must authorize again (`requiresReauthorization`); a 5xx,
/// 429 or 408 — or the `server_error` / `temporarily_unavailable` codes — is transient.
/// Anything else (a redirect, a malformed answer, a 404) is neither: it is a configuration
/// or server fault that retrying or authorizing again will not fix by itself.
///
/// `description` is a sentence for the user. It never contains a token, code, verifier,
/// secret, `state` or a raw response body (SECURITY S11); server-supplied text is
/// sanitized on the way in and scrubbed of token-like words on the way out.
public struct OAuthError: Error, Sendable, Equatable {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Equatable, CaseIterable {
        /// The answer is not valid OAuth: not JSON, a missing or malformed field, too large.
        case invalidResponse
        /// The server sent an RFC 6749 §5.2 (or §4.1.2.1) error; see `oauthError`.
        case oauth
        /// The user or the server denied the authorization (`access_denied`).
        case accessDenied
        /// The `state` did not match (RFC 6749 §10.12).
        case stateMismatch
        /// The `iss` parameter or discovery `issuer` did not match (RFC 9207, RFC 8414 §3.3).
        case issuerMismatch
        /// The ID token's `nonce` did not match (OpenID Connect Core §3.1.3.7).
        case nonceMismatch
        /// The server answered with a 3xx; redirects are never followed with credentials.
        case redirected
        /// A non-success HTTP status without an OAuth error in the body.
        case httpStatus
        /// The metadata document (RFC 8414 / OpenID Discovery) could not be used.
        case discovery
        /// The device code expired before the user approved (RFC 8628 §3.5 `expired_token`).
        case deviceExpired
        /// A value given to this module is not acceptable (bad verifier, http endpoint, …).
        case invalidConfiguration
    }

    /// What kind of failure this is.
    public let code: Code
    /// The `error` value of an RFC 6749 §5.2 response, restricted to its printable charset.
    public let oauthError: String?
    /// The server's `error_description`: printable characters only, at most 200.
    public let errorDescription: String?
    /// The HTTP status of the response, when there was one.
    public let httpStatus: Int?
    /// This module's own words on what was wrong (never server text, never a secret).
    public let detail: String?

    /// Creates an error; `oauthError` and `errorDescription` are sanitized here.
    public init(
        code: Code, oauthError: String? = nil, errorDescription: String? = nil,
        httpStatus: Int? = nil, detail: String? = nil
    ) {
        self.code = code
        self.oauthError = oauthError.flatMap { Sanitize.errorCode($0) }
        self.errorDescription = errorDescription.flatMap { Sanitize.printable($0, limit: 200) }
        self.httpStatus = httpStatus
        self.detail = detail
    }

    /// OAuth `error` codes that say "try again later", wherever they come from.
    static let transientErrorCodes: Set<String> = ["server_error", "temporarily_unavailable"]

    /// True when retrying later (with backoff, keeping the tokens) is the right answer:
    /// HTTP 5xx, 429 or 408, the `server_error` / `temporarily_unavailable` codes, or a
    /// 400/401/403 without an OAuth error body — a maintenance or firewall page is no
    /// verdict on the grant (SECURITY S15: only an OAuth error ends a grant).
    public var isTransient: Bool {
        if let status = httpStatus, (500...599).contains(status) || status == 429 || status == 408 {
            return true
        }
        if code == .httpStatus, let status = httpStatus, [400, 401, 403].contains(status) {
            return true
        }
        if code == .oauth, let error = oauthError, Self.transientErrorCodes.contains(error) {
            return true
        }
        return false
    }

    /// `invalid_client` (RFC 6749 §5.2): the server refused the *client's* authentication
    /// (secret, `client_auth`), not the grant. Signing in again cannot fix it, and the
    /// refresh token may be fine once the client is: keep it.
    public var isClientAuthenticationFailure: Bool {
        code == .oauth && oauthError == "invalid_client" && !isTransient
    }

    /// True when the grant is unusable and the user must authorize again: any OAuth error
    /// (`invalid_grant`, `unauthorized_client`, `invalid_scope`, and unknown codes alike)
    /// that is not transient and not `invalid_client`, a denial, a state/issuer/nonce
    /// mismatch, or an expired device code. A bare HTTP status is never a verdict.
    public var requiresReauthorization: Bool {
        if isTransient || isClientAuthenticationFailure { return false }
        switch code {
        case .oauth, .accessDenied, .stateMismatch, .issuerMismatch, .nonceMismatch, .deviceExpired:
            return true
        case .httpStatus, .invalidResponse, .redirected, .discovery, .invalidConfiguration:
            return false
        }
    }
}
