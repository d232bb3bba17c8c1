public import FoundationEssentials

/// Checks of the authorization response that arrives at the redirect URI (RFC 6749
/// §4.1.2, §4.1.2.1, §10.12; RFC 9207 for `iss`).
public enum AuthorizationResponse {
    /// Classifies the query of a request to the redirect URI.
    ///
    /// In order: any repeated parameter → `.ignore` (§3.1: parameters must not repeat);
    /// missing or wrong `state` (constant-time compare) → `.ignore`; from here the response
    /// belongs to this login: `iss` different from `expectedIssuer`, or absent while
    /// `issuerRequired` → `.denied(.issuerMismatch)` (RFC 9207 §2.4, checked for error
    /// responses too); `error` → `.denied`; no `code` → `.denied(.invalidResponse)`;
    /// else `.code`. Set `issuerRequired` from
    /// `ProviderEndpoints.authorizationResponseIssParameterSupported`.
    public static func validate(
        query: [URLQueryItem], expectedState: String, expectedIssuer: String?, issuerRequired: Bool
    ) -> CallbackOutcome {
        var seen = Set<String>()
        for item in query where !seen.insert(item.name).inserted {
            return .ignore(reason: "a parameter appears more than once")
        }
        func value(_ name: String) -> String? { query.first { $0.name == name }?.value }

        guard let state = value("state"), !state.isEmpty else {
            return .ignore(reason: "the request has no state parameter")
        }
        guard ConstantTime.equals(state, expectedState) else {
            return .ignore(reason: "the state does not match this login")
        }
        if let iss = value("iss") {
            if let expectedIssuer, iss != expectedIssuer {
                return .denied(OAuthError(
                    code: .issuerMismatch,
                    detail: "the authorization response's iss is not \(expectedIssuer)"))
            }
        } else if issuerRequired {
            return .denied(OAuthError(
                code: .issuerMismatch,
                detail: "the server advertises the iss parameter but the response has none"))
        }
        if let error = value("error") {
            return .denied(OAuthError(
                code: error == "access_denied" ? .accessDenied : .oauth,
                oauthError: error, errorDescription: value("error_description")))
        }
        guard let code = value("code"), !code.isEmpty else {
            return .denied(OAuthError(code: .invalidResponse, detail: "the authorization response has no code"))
        }
        return .code(code)
    }

    /// The paste-back path: the user copies the address the browser was redirected to
    /// (or just its query) and pastes it. Surrounding spaces and quotes are trimmed;
    /// when `expectedRedirectURI` is given, the scheme, host, port and path must match it,
    /// else the paste is `.ignore`d. Then as `validate(query:…)`.
    public static func parse(
        pastedURL: String, expectedState: String, expectedIssuer: String?, issuerRequired: Bool,
        expectedRedirectURI: URL? = nil
    ) -> CallbackOutcome {
        let text = pastedURL.trimming { $0.isWhitespace || $0.isNewline || "\"'<>".contains($0) }
        let query: String
        if text.contains("://") {
            guard let components = URLComponents(string: text) else {
                return .ignore(reason: "the pasted text is not a URL")
            }
            if let expected = expectedRedirectURI.flatMap({ URLComponents(url: $0, resolvingAgainstBaseURL: false) }),
                !sameEndpoint(components, expected)
            {
                return .ignore(reason: "the pasted URL is not the redirect URI of this login")
            }
            query = components.percentEncodedQuery ?? ""
        } else {
            query = text.hasPrefix("?") ? String(text.dropFirst()) : text
        }
        return validate(
            query: queryItems(percentEncodedQuery: query), expectedState: expectedState,
            expectedIssuer: expectedIssuer, issuerRequired: issuerRequired)
    }

    /// The parameters of a redirect URI's query, decoded as `application/x-www-form-urlencoded`
    /// (`+` is a space; RFC 6749 Appendix B), repeats kept. Use this for the loopback
    /// listener's request target too, so that both paths decode alike.
    public static func queryItems(percentEncodedQuery: String) -> [URLQueryItem] {
        FormURLEncoding.decode(percentEncodedQuery)
    }

    static func sameEndpoint(_ a: URLComponents, _ b: URLComponents) -> Bool {
        a.scheme?.lowercased() == b.scheme?.lowercased() && a.host?.lowercased() == b.host?.lowercased()
            && a.port == b.port && a.percentEncodedPath == b.percentEncodedPath
    }
}
