public import FoundationEssentials

/// When to poll the token endpoint during a device authorization (RFC 8628 §3.5): a pure
/// value, so the Agent's timer and the tests share one rule.
public struct DevicePollSchedule: Sendable, Equatable {
    /// Seconds between polls; at least 1, at most `maximumInterval`.
    public private(set) var interval: TimeInterval
    /// When the device code expires; no poll is due after it.
    public let deadline: Date

    /// The longest interval `slowDown()` grows to.
    public static let maximumInterval: TimeInterval = 300

    public init(interval: TimeInterval, deadline: Date) {
        self.interval = ExpiresIn.clamp(interval, into: 1...Self.maximumInterval)
        self.deadline = deadline
    }

    /// `slow_down`: the interval grows by 5 seconds for this and all later polls (§3.5).
    public mutating func slowDown() {
        interval = min(interval + 5, Self.maximumInterval)
    }

    /// After a transient failure (no answer, a 5xx): the interval doubles, up to
    /// `maximumInterval` (RFC 8628 §3.5: exponential backoff on connection timeouts).
    public mutating func backOff() {
        interval = min(interval * 2, Self.maximumInterval)
    }

    /// When to poll next after a poll that finished at `date`; `nil` when that would be
    /// past the deadline (the device code has expired: report `.deviceExpired`).
    public func nextPoll(after date: Date) -> Date? {
        let next = date.addingTimeInterval(interval)
        return next <= deadline ? next : nil
    }

    /// Whether the device code has expired at `now`.
    public func isExpired(at now: Date) -> Bool {
        now >= deadline
    }
}
