public import FoundationEssentials

/// The authorization request (RFC 6749 §4.1.1) with PKCE (RFC 7636 §4.3), a 128-bit
/// `state` (§10.12) and, for OpenID Connect, a `nonce` (OIDC Core §3.1.2.1).
/// Keep this value for the whole flow: the callback is checked against its `state`,
/// the code is redeemed with its `pkce.verifier` and the ID token against its `nonce`.
public struct AuthorizationRequest: Sendable, Equatable {
    /// `client_id`.
    public var clientID: String
    /// `redirect_uri`, sent exactly as `absoluteString` here and at the token endpoint.
    public var redirectURI: URL
    /// `scope` (§3.3), space-separated; omitted when `nil` or empty.
    public var scope: String?
    /// `state`: unguessable, single use, compared in constant time (SECURITY S4).
    public var state: String
    /// The PKCE pair; `code_challenge` and `code_challenge_method=S256` are sent.
    public var pkce: PKCE
    /// `nonce`: set when `scope` contains `openid`.
    public var nonce: String?

    /// A request with fresh `state`, PKCE and — when `scope` contains `openid` and no
    /// `nonce` is given — a fresh `nonce`.
    public init(
        clientID: String, redirectURI: URL, scope: String?,
        state: String = RandomValue.urlSafe(bytes: 16), pkce: PKCE = .generate(), nonce: String? = nil
    ) {
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.scope = scope
        self.state = state
        self.pkce = pkce
        self.nonce = nonce ?? (Self.scopeContainsOpenID(scope) ? RandomValue.urlSafe(bytes: 16) : nil)
    }

    /// Whether `openid` is one of the space-separated scope tokens.
    static func scopeContainsOpenID(_ scope: String?) -> Bool {
        scope?.split(separator: " ").contains("openid") ?? false
    }

    /// The parameters in the order they are sent.
    var parameters: [(String, String)] {
        var parameters = [
            ("response_type", "code"), ("client_id", clientID),
            ("redirect_uri", redirectURI.absoluteString),
        ]
        if let scope, !scope.isEmpty { parameters.append(("scope", scope)) }
        parameters += [
            ("state", state), ("code_challenge", pkce.challenge),
            ("code_challenge_method", pkce.method),
        ]
        if let nonce { parameters.append(("nonce", nonce)) }
        return parameters
    }

    /// The URL to send the browser to: `endpoint` with its own query parameters kept
    /// (§3.1), except any that this request sets (parameters must not repeat, §3.1),
    /// followed by this request's parameters, form-urlencoded. A fragment is dropped.
    public func url(endpoint: URL) -> URL {
        guard var components = URLComponents(url: endpoint, resolvingAgainstBaseURL: false) else {
            return endpoint
        }
        let ours = parameters
        let names = Set(ours.map(\.0))
        let kept = (components.percentEncodedQuery ?? "")
            .split(separator: "&", omittingEmptySubsequences: true)
            .filter { pair in
                let name = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
                return !names.contains(FormURLEncoding.unescape(name))
            }
            .map(String.init)
        components.percentEncodedQuery = (kept + [FormURLEncoding.encode(ours)]).joined(separator: "&")
        components.fragment = nil
        return components.url ?? endpoint
    }
}

extension AuthorizationRequest: CustomStringConvertible {
    /// Client and redirect only; `state`, verifier and `nonce` are redacted (S11).
    public var description: String {
        "AuthorizationRequest(client_id: \(clientID), redirect_uri: \(redirectURI.absoluteString), scope: \(scope ?? "-"), state: \(Redaction.describe(secret: state)), nonce: \(Redaction.describe(secret: nonce)))"
    }
}
