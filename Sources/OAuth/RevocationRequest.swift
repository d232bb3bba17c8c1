public import FoundationEssentials

/// A token revocation request (RFC 7009 §2.1). Revoke the refresh token first: that
/// also ends its access tokens on servers that link them (§2.1, SECURITY S12).
public struct RevocationRequest: Sendable, Equatable {
    /// `token_type_hint` values (RFC 7009 §2.1, §4.1.2).
    public enum TokenTypeHint: String, Sendable, Equatable {
        case refreshToken = "refresh_token"
        case accessToken = "access_token"
    }

    /// `token`: the token to revoke.
    public var token: String
    /// `token_type_hint`, sent when known.
    public var tokenTypeHint: TokenTypeHint?

    public init(token: String, tokenTypeHint: TokenTypeHint?) {
        self.token = token
        self.tokenTypeHint = tokenTypeHint
    }

    /// The requests to make for a token set, in RFC 7009's order: refresh token first,
    /// then the access token.
    public static func all(for tokens: TokenSet) -> [RevocationRequest] {
        var requests: [RevocationRequest] = []
        if let refresh = tokens.refreshToken {
            requests.append(RevocationRequest(token: refresh, tokenTypeHint: .refreshToken))
        }
        requests.append(RevocationRequest(token: tokens.accessToken, tokenTypeHint: .accessToken))
        return requests
    }

    /// `POST` to `endpoint`, form-urlencoded, authenticated as at the token endpoint (§2.1).
    public func httpRequest(endpoint: URL, client: ClientAuthentication) -> HTTPRequestSpec {
        var parameters = [("token", token)]
        if let tokenTypeHint { parameters.append(("token_type_hint", tokenTypeHint.rawValue)) }
        return HTTPRequestSpec.formPost(endpoint: endpoint, parameters: parameters, client: client)
    }
}

extension RevocationRequest: CustomStringConvertible, CustomDebugStringConvertible {
    /// The hint only; the token is redacted (S11).
    public var description: String {
        "RevocationRequest(\(tokenTypeHint?.rawValue ?? "token"): \(Redaction.describe(secret: token)))"
    }
    public var debugDescription: String { description }
}
