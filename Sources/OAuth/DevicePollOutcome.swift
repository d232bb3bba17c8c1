public import FoundationEssentials

/// What one poll of the token endpoint with a device code means (RFC 8628 §3.5).
public enum DevicePollOutcome: Sendable, Equatable {
    /// `authorization_pending`: poll again after the interval.
    case pending
    /// `slow_down` (or HTTP 429): call `DevicePollSchedule.slowDown()` — the interval
    /// grows by 5 s for this and every later poll — then poll again.
    case slowDown
    /// `access_denied`: the user refused. Stop.
    case denied
    /// `expired_token`: the device code expired. Stop; start again if the user wants.
    case expired
    /// The tokens: store them.
    case tokens(TokenSet)
    /// Anything else. When `error.isTransient` (5xx, 408) polling may go on until the
    /// deadline; otherwise stop.
    case failed(OAuthError)

    /// Classifies a token endpoint response to a `TokenRequest.deviceCode` poll.
    public static func classify(_ response: HTTPResponseSpec, now: Date, previous: TokenSet? = nil) -> DevicePollOutcome {
        do {
            return .tokens(try TokenResponse.parse(response, now: now, previous: previous))
        } catch let error as OAuthError {
            switch (error.code, error.oauthError) {
            case (.oauth, "authorization_pending"): return .pending
            case (.oauth, "slow_down"): return .slowDown
            case (.oauth, "access_denied"): return .denied
            case (.oauth, "expired_token"): return .expired
            case (.httpStatus, _) where error.httpStatus == 429: return .slowDown
            default: return .failed(error)
            }
        } catch {
            return .failed(OAuthError(code: .invalidResponse))
        }
    }
}
