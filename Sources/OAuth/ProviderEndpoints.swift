public import FoundationEssentials

/// Where the authorization server lives: configured by hand (`authorization_url`,
/// `token_url`, …) or read from its metadata (RFC 8414 §2; OpenID Connect Discovery §3).
public struct ProviderEndpoints: Sendable, Equatable {
    /// `authorization_endpoint` (RFC 6749 §3.1).
    public var authorization: URL
    /// `token_endpoint` (RFC 6749 §3.2).
    public var token: URL
    /// `revocation_endpoint` (RFC 7009 §2; RFC 8414 §2).
    public var revocation: URL?
    /// `device_authorization_endpoint` (RFC 8628 §3.1, §4).
    public var deviceAuthorization: URL?
    /// `issuer` (RFC 8414 §2), when known; the value `iss` is checked against (RFC 9207).
    public var issuer: String?
    /// `authorization_response_iss_parameter_supported` (RFC 9207 §3): when true, a
    /// callback without `iss` is refused.
    public var authorizationResponseIssParameterSupported: Bool

    public init(
        authorization: URL, token: URL, revocation: URL? = nil, deviceAuthorization: URL? = nil,
        issuer: String? = nil, authorizationResponseIssParameterSupported: Bool = false
    ) {
        self.authorization = authorization
        self.token = token
        self.revocation = revocation
        self.deviceAuthorization = deviceAuthorization
        self.issuer = issuer
        self.authorizationResponseIssParameterSupported = authorizationResponseIssParameterSupported
    }

    /// Checks that every endpoint is https, or http on a loopback address (for
    /// development and tests; SECURITY S13, RFC 6749 §3.1–3.2 require TLS), and has no
    /// fragment (§3.1). Throws `invalidConfiguration` naming the endpoint.
    public func validate() throws {
        let named: [(String, URL?)] = [
            ("authorization endpoint", authorization), ("token endpoint", token),
            ("revocation endpoint", revocation), ("device authorization endpoint", deviceAuthorization),
        ]
        for case (let name, let url?) in named where !url.isAcceptableEndpoint {
            throw OAuthError(
                code: .invalidConfiguration,
                detail: "the \(name) must be an https URL (http only on 127.0.0.1, ::1 or localhost) without a fragment")
        }
    }

    /// Whether any endpoint uses plain http on loopback (worth saying in `status`).
    public var usesLoopbackHTTP: Bool {
        [authorization, token, revocation, deviceAuthorization].contains { $0?.scheme?.lowercased() == "http" }
    }
}

extension URL {
    /// https with a host, or http with a loopback host; no fragment; no user info.
    var isAcceptableEndpoint: Bool {
        guard let components = URLComponents(url: self, resolvingAgainstBaseURL: false),
            let host = components.host, !host.isEmpty,
            components.fragment == nil, components.user == nil, components.password == nil
        else { return false }
        switch components.scheme?.lowercased() {
        case "https": return true
        case "http": return URL.isLoopback(host: host)
        default: return false
        }
    }

    /// `127.0.0.0/8`, `::1` or `localhost`.
    static func isLoopback(host: String) -> Bool {
        let bare = host.trimming { $0 == "[" || $0 == "]" }.lowercased()
        if bare == "::1" || bare == "localhost" { return true }
        let octets = bare.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}
