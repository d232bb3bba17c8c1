public import FoundationEssentials
import Glibc

/// When to refresh ahead of expiry, and how to back off after transient failures
/// (DESIGN §5). Pure arithmetic over absolute (wall-clock) times.
public struct RefreshPolicy: Sendable {
    /// The refresh window is `max(minimumWindow, fraction × lifetime)`, but never more than
    /// half the lifetime, so that short-lived tokens are not refreshed in a loop.
    public var minimumWindow: TimeInterval = 60
    public var fraction: Double = 0.1
    /// Up to this share of the window is added at random (still never beyond half the
    /// lifetime), so that many agents do not refresh in lock-step.
    public var jitterFraction: Double = 0.1
    /// Transient failures back off exponentially from `initialBackoff` to `maximumBackoff`,
    /// with jitter; together with `minimumInterval` a connection makes about 6 token
    /// requests a minute at most, whatever the server and the callers do (S15).
    public var initialBackoff: TimeInterval = 5
    public var maximumBackoff: TimeInterval = 60
    /// No two token requests of a connection closer than this, whatever triggered them
    /// (timer, caller, a gateway's 401).
    public var minimumInterval: TimeInterval = 10
    /// An `expires_in` below this counts as this for refreshing (a server problem, reported);
    /// with `minimumInterval` it bounds `expires_in` 0 or 1 to 6 refreshes a minute.
    public var lifetimeFloor: TimeInterval = 10
    /// No `expires_in` at all: the lifetime assumed.
    public var assumedLifetime: TimeInterval = 600
    /// While a rotated set waits for the keyring, no refresh until this close to expiry.
    public var urgentWindow: TimeInterval = 30
    /// Save and keyring-write retries: from `initialBackoff` to this.
    public var maximumSaveRetry: TimeInterval = 60

    public init() {}

    /// The moment to refresh `obtainedAt … expiresAt`; `nil` when the expiry is unknown.
    public func refreshTime(obtainedAt: Date, expiresAt: Date?, random: Double = Double.random(in: 0...1)) -> Date? {
        guard let expiresAt else { return nil }
        let lifetime = max(0, expiresAt.timeIntervalSince(obtainedAt))
        let window = min(max(minimumWindow, fraction * lifetime), lifetime / 2)
        let jitter = window * jitterFraction * min(max(random, 0), 1)
        return expiresAt.addingTimeInterval(-min(window + jitter, lifetime / 2))
    }

    /// The delay before retry number `attempt` (1-based) after a transient failure, up to
    /// a fifth shorter by `random` (0…1), never below `minimumInterval`.
    public func backoff(attempt: Int, random: Double = 0) -> TimeInterval {
        let exponent = Double(min(max(attempt - 1, 0), 16))
        let delay = min(maximumBackoff, initialBackoff * pow(2, exponent))
        return max(minimumInterval, delay * (1 - 0.2 * min(max(random, 0), 1)))
    }

    /// The delay before keyring retry number `attempt` (1-based).
    public func saveRetry(attempt: Int) -> TimeInterval {
        let exponent = Double(min(max(attempt - 1, 0), 16))
        return min(maximumSaveRetry, initialBackoff * pow(2, exponent))
    }
}
