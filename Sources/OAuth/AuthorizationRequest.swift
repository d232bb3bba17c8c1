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
    /// Parameters an admin adds (`prompt`, `login_hint`, `acr_values`, …), sent after the
    /// protocol's own, by name. Never one of `reservedParameters`.
    public var additionalParameters: [String: String]

    /// The parameters this request sets itself; an admin cannot override them.
    public static let reservedParameters: Set<String> = [
        "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
        "code_challenge_method", "nonce",
    ]

    /// A request with fresh `state`, PKCE and — when `scope` contains `openid` and no
    /// `nonce` is given — a fresh `nonce`.
    /// With `offline_access` in `scope` and no `prompt` of the admin's, `prompt=consent` is
    /// added: OpenID Connect Core §11 requires it for offline access, and a server that
    /// enforces it otherwise grants no refresh token that outlives the browser session.
    public init(
        clientID: String, redirectURI: URL, scope: String?,
        state: String = RandomValue.urlSafe(bytes: 16), pkce: PKCE = .generate(), nonce: String? = nil,
        additionalParameters: [String: String] = [:]
    ) {
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.scope = scope
        self.state = state
        self.pkce = pkce
        self.nonce = nonce ?? (Self.scopeContains("openid", scope) ? RandomValue.urlSafe(bytes: 16) : nil)
        var additional = additionalParameters.filter { !Self.reservedParameters.contains($0.key) }
        if Self.scopeContains("offline_access", scope), additional["prompt"] == nil {
            additional["prompt"] = "consent"
        }
        self.additionalParameters = additional
    }

    /// Whether `token` is one of the space-separated scope tokens.
    static func scopeContains(_ token: Substring, _ scope: String?) -> Bool {
        scope?.split(separator: " ").contains(token) ?? false
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
        parameters += additionalParameters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
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
