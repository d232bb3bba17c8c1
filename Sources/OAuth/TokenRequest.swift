public import FoundationEssentials

/// A request to the token endpoint: the code exchange (RFC 6749 §4.1.3 with RFC 7636
/// §4.5), a refresh (§6) or a device code poll (RFC 8628 §3.4).
public enum TokenRequest: Sendable, Equatable {
    /// `grant_type=authorization_code` with `code`, `redirect_uri` (exactly as in the
    /// authorization request) and `code_verifier`. Send it at most once (SECURITY S5).
    case authorizationCode(code: String, redirectURI: URL, verifier: String)
    /// `grant_type=refresh_token` with `refresh_token` and, when given, a `scope` no
    /// wider than the one granted.
    case refresh(refreshToken: String, scope: String?)
    /// `grant_type=urn:ietf:params:oauth:grant-type:device_code` with `device_code`.
    case deviceCode(deviceCode: String)

    /// The RFC 8628 §3.4 grant type URN.
    public static let deviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code"

    /// The grant's own parameters, before client authentication.
    var parameters: [(String, String)] {
        switch self {
        case .authorizationCode(let code, let redirectURI, let verifier):
            return [
                ("grant_type", "authorization_code"), ("code", code),
                ("redirect_uri", redirectURI.absoluteString), ("code_verifier", verifier),
            ]
        case .refresh(let refreshToken, let scope):
            var parameters = [("grant_type", "refresh_token"), ("refresh_token", refreshToken)]
            if let scope, !scope.isEmpty { parameters.append(("scope", scope)) }
            return parameters
        case .deviceCode(let deviceCode):
            return [("grant_type", Self.deviceCodeGrantType), ("device_code", deviceCode)]
        }
    }

    /// `POST` to `endpoint`, `application/x-www-form-urlencoded` (Appendix B; `+` and `&`
    /// in values escaped), `Accept: application/json`, authenticated as `client` (§2.3).
    public func httpRequest(endpoint: URL, client: ClientAuthentication) -> HTTPRequestSpec {
        HTTPRequestSpec.formPost(endpoint: endpoint, parameters: parameters, client: client)
    }
}

extension TokenRequest: CustomStringConvertible, CustomDebugStringConvertible {
    /// The grant type only; codes, verifiers and tokens are redacted (S11).
    public var description: String {
        switch self {
        case .authorizationCode(let code, let redirectURI, _):
            return "TokenRequest(authorization_code, code: \(Redaction.describe(secret: code)), redirect_uri: \(redirectURI.absoluteString))"
        case .refresh(let token, let scope):
            return "TokenRequest(refresh_token, refresh_token: \(Redaction.describe(secret: token)), scope: \(scope ?? "-"))"
        case .deviceCode(let code):
            return "TokenRequest(device_code, device_code: \(Redaction.describe(secret: code)))"
        }
    }
    public var debugDescription: String { description }
}
