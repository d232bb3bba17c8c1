public import FoundationEssentials

/// Authorization server metadata (RFC 8414; OpenID Connect Discovery 1.0), reduced to
/// the endpoints the agent uses. It is trusted only when its `issuer` is exactly the
/// configured issuer (RFC 8414 §3.3; OpenID Discovery §4.3): that is the mix-up defence.
public enum DiscoveryDocument {
    /// Metadata documents larger than this (256 KiB) are refused.
    public static let maximumSize = 256 * 1024

    /// Where to look, in order: the OpenID location `<issuer>/.well-known/openid-configuration`
    /// first, then RFC 8414 §3.1's `/.well-known/oauth-authorization-server` inserted between
    /// the host and the issuer's path. Empty when `issuer` is not an https (or loopback
    /// http) URL without query and fragment (RFC 8414 §2).
    public static func candidateURLs(issuer: String) -> [URL] {
        guard let url = URL(string: issuer), url.isAcceptableEndpoint,
            var components = URLComponents(url: url, resolvingAgainstBaseURL: false),
            components.query == nil
        else { return [] }
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        var candidates: [URL] = []
        components.percentEncodedPath = path + "/.well-known/openid-configuration"
        if let openID = components.url { candidates.append(openID) }
        components.percentEncodedPath = "/.well-known/oauth-authorization-server" + path
        if let oauth = components.url { candidates.append(oauth) }
        return candidates
    }

    /// Reads a metadata response. Requires a 200 with a JSON object no larger than
    /// `maximumSize`, `issuer` exactly equal to `expectedIssuer` (else `.issuerMismatch`),
    /// and `authorization_endpoint` and `token_endpoint` (RFC 8414 §2); every endpoint
    /// must be https (or loopback http). Optional endpoints that are not acceptable URLs
    /// are left out rather than trusted.
    public static func parse(_ response: HTTPResponseSpec, expectedIssuer: String) throws -> ProviderEndpoints {
        guard response.body.count <= maximumSize else {
            throw OAuthError(
                code: .discovery, httpStatus: response.status,
                detail: "the metadata document is larger than \(maximumSize) bytes")
        }
        let object: [String: JSONValue]
        do {
            object = try OAuthError.successObject(response)
        } catch let error as OAuthError where error.code == .redirected {
            throw error
        } catch let error as OAuthError {
            throw OAuthError(
                code: .discovery, httpStatus: error.httpStatus,
                detail: error.detail ?? "the metadata request failed")
        }
        guard let issuer = object["issuer"]?.stringValue else {
            throw OAuthError(code: .discovery, httpStatus: response.status, detail: "the metadata has no issuer")
        }
        guard issuer == expectedIssuer else {
            throw OAuthError(
                code: .issuerMismatch, httpStatus: response.status,
                detail: "the metadata names the issuer \(Sanitize.printable(issuer, limit: 200).map { "'\($0)'" } ?? "(unprintable)"), not '\(expectedIssuer)'")
        }
        func endpoint(_ field: String) -> URL? {
            guard let text = object[field]?.stringValue, let url = URL(string: text),
                url.isAcceptableEndpoint
            else { return nil }
            return url
        }
        guard let authorization = endpoint("authorization_endpoint"),
            let token = endpoint("token_endpoint")
        else {
            throw OAuthError(
                code: .discovery, httpStatus: response.status,
                detail: "the metadata lacks an https authorization_endpoint or token_endpoint")
        }
        let issSupported: Bool
        if case .bool(let flag)? = object["authorization_response_iss_parameter_supported"] {
            issSupported = flag
        } else {
            issSupported = false
        }
        return ProviderEndpoints(
            authorization: authorization, token: token,
            revocation: endpoint("revocation_endpoint"),
            deviceAuthorization: endpoint("device_authorization_endpoint"),
            issuer: issuer, authorizationResponseIssParameterSupported: issSupported)
    }
}
