/// What a revocation response means (RFC 7009 §2.2, §2.2.1).
public enum RevocationResult: Sendable, Equatable {
    /// 2xx: revoked, or it was already invalid (§2.2: the server answers 200 for both).
    case revoked
    /// 503 (§2.2.1), another 5xx, 429 or 408 — and, from the Agent, a network error: the
    /// token may still be valid. Say so and offer a retry (SECURITY S12).
    case mayStillBeValid(reason: String)
    /// The server refused the request (`unsupported_token_type`, `invalid_client`, a
    /// redirect, a 404…). Retrying the same request will not help; the token may still be
    /// valid until it expires.
    case rejected(OAuthError)

    /// Classifies a response from the revocation endpoint.
    public static func classify(_ response: HTTPResponseSpec) -> RevocationResult {
        if (200...299).contains(response.status) { return .revoked }
        let error = OAuthError(errorResponse: response)
        if error.isTransient {
            let reason = response.status == 503
                ? "the server is temporarily unavailable (HTTP 503); the token may still be valid, retry later"
                : "the server could not revoke the token now (HTTP \(response.status)); the token may still be valid, retry later"
            return .mayStillBeValid(reason: reason)
        }
        return .rejected(error)
    }
}
