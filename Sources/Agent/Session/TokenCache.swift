public import FoundationEssentials
import NIOConcurrencyHelpers
import OAuth

/// The proxy's hot path: the current access token per connection behind one lock, read
/// without suspending. Sessions write it; nothing else does.
public final class TokenCache: Sendable {
    private struct Entry {
        var accessToken: String
        var expiresAt: Date?
        var lifetime: TimeInterval?
    }
    private let entries = NIOLockedValueBox<[String: Entry]>([:])
    /// The sessions' clock, so that the cache and the sessions agree on "now".
    private let clock: any WallClock

    public init(clock: any WallClock = SystemWallClock()) {
        self.clock = clock
    }

    func set(_ connection: String, _ tokens: TokenSet) {
        let lifetime = tokens.expiresAt.map { $0.timeIntervalSince(tokens.obtainedAt) }
        entries.withLockedValue { $0[connection] = Entry(accessToken: tokens.accessToken, expiresAt: tokens.expiresAt, lifetime: lifetime) }
    }

    func remove(_ connection: String) {
        entries.withLockedValue { $0[connection] = nil }
    }

    /// The token if it stays valid for `minValid` seconds from `now`.
    public func token(_ connection: String, minValid: TimeInterval, now: Date? = nil) -> String? {
        entry(connection, minValid: minValid, now: now)?.accessToken
    }

    /// Token and expiry if valid for `minValid` seconds — capped, like the session, at half
    /// the token's lifetime, so that the answer is the same with or without the cache.
    public func entry(_ connection: String, minValid: TimeInterval, now: Date? = nil) -> (accessToken: String, expiresAt: Date?)? {
        let now = now ?? clock.now()
        return entries.withLockedValue { entries in
            guard let entry = entries[connection] else { return nil }
            if let expiresAt = entry.expiresAt {
                let needed = entry.lifetime.map { $0 > 0 ? min(minValid, $0 / 2) : minValid } ?? minValid
                if expiresAt.timeIntervalSince(now) < needed { return nil }
            }
            return (entry.accessToken, entry.expiresAt)
        }
    }
}
