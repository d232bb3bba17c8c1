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
    public var initialBackoff: TimeInterval = 5
    public var maximumBackoff: TimeInterval = 300

    public init() {}

    /// The moment to refresh `obtainedAt … expiresAt`; `nil` when the expiry is unknown.
    public func refreshTime(obtainedAt: Date, expiresAt: Date?, random: Double = Double.random(in: 0...1)) -> Date? {
        guard let expiresAt else { return nil }
        let lifetime = max(0, expiresAt.timeIntervalSince(obtainedAt))
        let window = min(max(minimumWindow, fraction * lifetime), lifetime / 2)
        let jitter = window * jitterFraction * min(max(random, 0), 1)
        return expiresAt.addingTimeInterval(-min(window + jitter, lifetime / 2))
    }

    /// The delay before retry number `attempt` (1-based) after a transient failure.
    public func backoff(attempt: Int) -> TimeInterval {
        let exponent = Double(min(max(attempt - 1, 0), 16))
        return min(maximumBackoff, initialBackoff * pow(2, exponent))
    }
}
