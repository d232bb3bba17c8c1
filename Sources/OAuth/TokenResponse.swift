public import FoundationEssentials

/// Reads the token endpoint's answer (RFC 6749 §5.1 success, §5.2 error) into the
/// `TokenSet` that is stored, or the `OAuthError` it stands for.
public enum TokenResponse {
    /// Parses a token endpoint response.
    ///
    /// - A 3xx is `.redirected` (never followed); a body over 1 MiB, a non-200 2xx, an
    ///   empty, HTML or non-object body is `.invalidResponse`; any other status is the
    ///   §5.2 error (`.oauth`) or, without one, `.httpStatus`. See `OAuthError` for what
    ///   each means.
    /// - `access_token`: a non-empty string of visible ASCII (§A.12), so it cannot
    ///   inject into an `Authorization` header.
    /// - `token_type`: required, `Bearer` in any case (RFC 6750); stored as `Bearer`.
    /// - `expires_in`: absent or `null` → no known expiry; otherwise the `ExpiresIn` rule:
    ///   numbers (and numeric strings) rounded down and clamped to 1 s … 1 year, anything
    ///   else rejected. `expiresAt = now + seconds`.
    /// - `refresh_token`: when absent, `null` or empty, `previous`'s is kept (§6: the
    ///   server may keep the old one valid); a new one replaces it (rotation).
    /// - `scope`: when absent, `previous`'s is kept (§5.1: omitted means unchanged).
    /// - `id_token` is kept as is (check it with `IDToken.validateNonce`); when absent,
    ///   `previous`'s is kept. `account` is always carried over from `previous`.
    ///
    /// Pass `previous: nil` for a code exchange and the stored set for a refresh.
    public static func parse(_ response: HTTPResponseSpec, now: Date, previous: TokenSet?) throws -> TokenSet {
        let object = try OAuthError.successObject(response)

        guard case .string(let accessToken)? = object["access_token"], !accessToken.isEmpty else {
            throw OAuthError.invalidField("the response has no access_token")
        }
        guard isVisibleASCII(accessToken) else {
            throw OAuthError.invalidField("the access_token contains characters a token may not have")
        }
        guard case .string(let tokenType)? = object["token_type"] else {
            throw OAuthError.invalidField("the response has no token_type")
        }
        guard tokenType.caseInsensitiveEquals("bearer") else {
            throw OAuthError.invalidField("the token_type is not Bearer")
        }
        let lifetime = try ExpiresIn.seconds(
            object["expires_in"], field: "expires_in", range: ExpiresIn.tokenRange, default: nil)

        let refreshToken: String?
        switch object["refresh_token"] {
        case nil, .null?, .string("")?:
            refreshToken = previous?.refreshToken
        case .string(let token)? where isVisibleASCII(token):
            refreshToken = token
        default:
            throw OAuthError.invalidField("the refresh_token is not a string of token characters")
        }

        let scope: String?
        switch object["scope"] {
        case nil, .null?: scope = previous?.scope
        case .string(let granted)?: scope = granted
        default: throw OAuthError.invalidField("the scope is not a string")
        }

        let idToken: String?
        switch object["id_token"] {
        case nil, .null?: idToken = previous?.idToken
        case .string(let token)? where isVisibleASCII(token): idToken = token
        default: throw OAuthError.invalidField("the id_token is not a string of token characters")
        }

        return TokenSet(
            accessToken: accessToken, refreshToken: refreshToken, tokenType: "Bearer",
            expiresAt: lifetime.map { now.addingTimeInterval($0) }, scope: scope, idToken: idToken,
            obtainedAt: now, account: previous?.account)
    }

    /// `1*VSCHAR` (RFC 6749 Appendix A: %x20-7E), the grammar of every token.
    static func isVisibleASCII(_ text: String) -> Bool {
        !text.isEmpty && text.isPrintableASCII
    }
}
