extension OAuthError: CustomStringConvertible, CustomDebugStringConvertible {
    /// A sentence saying what happened and what to do about it. Built only from this
    /// module's own words, the HTTP status and the sanitized, scrubbed `error` and
    /// `error_description`; never a token, code, verifier, secret, `state` or a body (S11).
    public var description: String {
        "\(whatHappened) \(whatToDo)"
    }

    /// What an admin checks after `invalid_client`.
    public static let clientAuthenticationAdvice = "Check client_id and the client secret. With client_auth = \"basic\" (the default), a server that does not URL-decode Basic credentials refuses a secret containing '+', '/' or '=': try client_auth = \"post\"."

    public var debugDescription: String {
        "OAuthError(code: \(code.rawValue), error: \(oauthError ?? "-"), status: \(httpStatus.map(String.init) ?? "-")): \(description)"
    }

    /// The server's words, when it sent any, as ` (invalid_grant: Token expired)`.
    private var serverWords: String {
        var words = oauthError.map { Redaction.scrub($0) } ?? ""
        if let text = errorDescription.map({ Redaction.scrub($0) }), !text.isEmpty {
            words += words.isEmpty ? text : ": \(text)"
        }
        return words.isEmpty ? "" : " (\(words))"
    }

    private var status: String { httpStatus.map { " (HTTP \($0))" } ?? "" }

    private var detailSuffix: String { detail.map { ": \($0)" } ?? "" }

    private var whatHappened: String {
        switch code {
        case .invalidResponse:
            return "The authorization server's response is not valid OAuth\(status)\(detailSuffix)."
        case .oauth where isClientAuthenticationFailure:
            return "The authorization server refused the client's authentication\(serverWords)\(status); the sign-in itself was not judged."
        case .oauth:
            return isTransient
                ? "The authorization server is temporarily unable to answer\(serverWords)\(status)."
                : "The authorization server refused the request\(serverWords)\(status)."
        case .accessDenied:
            return "The authorization was denied\(serverWords)."
        case .stateMismatch:
            return "The authorization response does not belong to this login (state mismatch)."
        case .issuerMismatch:
            return "The response names a different issuer than the configured one\(detailSuffix)."
        case .nonceMismatch:
            return "The ID token does not belong to this login (nonce mismatch)."
        case .redirected:
            return "The server answered with a redirect\(status), which is never followed for OAuth requests."
        case .httpStatus:
            return "The server answered\(status) without an OAuth error\(detailSuffix)."
        case .discovery:
            return "The authorization server's metadata could not be used\(status)\(detailSuffix)."
        case .deviceExpired:
            return "The device code expired before the authorization was approved."
        case .invalidConfiguration:
            return "The OAuth settings are not usable\(detailSuffix)."
        }
    }

    private var whatToDo: String {
        if isTransient {
            return "Try again later; the stored tokens are kept."
        }
        switch code {
        case .stateMismatch, .nonceMismatch, .deviceExpired, .accessDenied:
            return "Start the authorization again."
        case .issuerMismatch:
            return "Check the connection's issuer setting; if it is right, something is impersonating the server, so do not retry blindly."
        case .redirected:
            return "Check that the configured endpoint URL is the exact https URL of the server."
        case .discovery:
            return "Check the connection's issuer, or set authorization_url and token_url instead."
        case .invalidConfiguration:
            return "Fix the connection's configuration."
        case .invalidResponse:
            return "Check the configured endpoint URLs; a proxy or login portal may be answering instead of the server."
        case .oauth where isClientAuthenticationFailure:
            return Self.clientAuthenticationAdvice
        case .oauth, .httpStatus:
            return requiresReauthorization
                ? "Authorize the connection again; if that fails too, check client_id, the client secret and client_auth."
                : "Check the configured endpoint URLs."
        }
    }
}
