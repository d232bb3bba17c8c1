public import FoundationEssentials

/// The claims of an OpenID Connect ID token that the agent checks and uses
/// (OpenID Connect Core §2, §3.1.3.7).
///
/// The signature is not verified: for the authorization code flow, OIDC Core §3.1.3.7
/// step 6 lets a client use the TLS server validation of the token endpoint instead,
/// because the ID token came straight from it over TLS. So this must only be used on an
/// ID token taken from a `TokenResponse`, never on one from a front channel.
public struct IDToken: Sendable, Equatable {
    /// `iss`.
    public let issuer: String
    /// `sub`, the stable user identifier, when present.
    public let subject: String?
    /// `aud`, as a list.
    public let audience: [String]
    /// `exp`.
    public let expiresAt: Date
    /// `preferred_username`, when present (a candidate for the Jira account name).
    public let preferredUsername: String?

    /// Clock skew accepted on `exp`.
    public static let allowedClockSkew: TimeInterval = 300

    /// Decodes the payload of `idToken` (a compact JWS, RFC 7515 §7.1) and checks, per
    /// §3.1.3.7: `nonce` equals `expected` (constant time) else `.nonceMismatch`; `iss`
    /// equals `issuer` exactly else `.issuerMismatch`; `aud` (string or array) contains
    /// `clientID` and, with several audiences, `azp` is `clientID`; `exp` is later than
    /// `now` minus `allowedClockSkew`. Other failures are `.invalidResponse`.
    @discardableResult
    public static func validateNonce(
        idToken: String, expected: String, issuer: String, clientID: String, now: Date
    ) throws -> IDToken {
        let parts = idToken.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, idToken.utf8.count <= HTTPResponseSpec.maximumBodySize,
            let payload = Base64URL.decode(parts[1]),
            case .object(let claims)? = try? JSONDecoder().decode(JSONValue.self, from: payload)
        else {
            throw OAuthError.invalidField("the id_token is not a JWT")
        }
        guard let nonce = claims["nonce"]?.stringValue, ConstantTime.equals(nonce, expected) else {
            throw OAuthError(code: .nonceMismatch)
        }
        guard let iss = claims["iss"]?.stringValue, iss == issuer else {
            throw OAuthError(code: .issuerMismatch, detail: "the id_token's iss is not \(issuer)")
        }
        let audience: [String]
        switch claims["aud"] {
        case .string(let single)?: audience = [single]
        case .array(let many)?: audience = many.compactMap(\.stringValue)
        default: audience = []
        }
        guard audience.contains(clientID) else {
            throw OAuthError.invalidField("the id_token is not meant for this client (aud)")
        }
        if audience.count > 1, claims["azp"]?.stringValue != clientID {
            throw OAuthError.invalidField("the id_token has several audiences and another azp")
        }
        guard case .number(let exp)? = claims["exp"], exp.isFinite else {
            throw OAuthError.invalidField("the id_token has no exp")
        }
        // Compared as Double: a hostile exp never reaches an integer conversion (S10).
        guard exp > now.timeIntervalSince1970 - allowedClockSkew else {
            throw OAuthError.invalidField("the id_token has expired")
        }
        return IDToken(
            issuer: iss, subject: claims["sub"]?.stringValue, audience: audience,
            expiresAt: Date(timeIntervalSince1970: min(exp, 253_402_300_799)),
            preferredUsername: claims["preferred_username"]?.stringValue)
    }
}
