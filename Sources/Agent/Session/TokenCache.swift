public import FoundationEssentials
import NIOConcurrencyHelpers
import OAuth

/// The proxy's hot path: the current access token per connection behind one lock, read
/// without suspending. Sessions write it; nothing else does — and only the session that
/// currently owns the connection: after a reload replaced or removed a connection, the old
/// session's writes (a refresh that was in flight) are dropped, so a token issued for the
/// old servers is never served for the new ones (S9, `issued_for`).
public final class TokenCache: Sendable {
    private struct Entry {
        var accessToken: String
        var expiresAt: Date?
        var lifetime: TimeInterval?
        var expiryAssumed: Bool
    }
    private struct State {
        var entries: [String: Entry] = [:]
        var owners: [String: ObjectIdentifier] = [:]
    }
    private let state = NIOLockedValueBox(State())
    /// The sessions' clock, so that the cache and the sessions agree on "now".
    private let clock: any WallClock

    public init(clock: any WallClock = SystemWallClock()) {
        self.clock = clock
    }

    /// Stores `tokens` for `connection`; with `owner`, only if `owner` owns the connection.
    func set(_ connection: String, _ tokens: TokenSet, owner: AnyObject? = nil) {
        let lifetime = tokens.expiresAt.map { $0.timeIntervalSince(tokens.obtainedAt) }
        state.withLockedValue { s in
            if let owner, s.owners[connection] != ObjectIdentifier(owner) { return }
            s.entries[connection] = Entry(accessToken: tokens.accessToken, expiresAt: tokens.expiresAt, lifetime: lifetime,
                                          expiryAssumed: tokens.expiryAssumed == true)
        }
    }

    func remove(_ connection: String, owner: AnyObject? = nil) {
        state.withLockedValue { s in
            if let owner, s.owners[connection] != ObjectIdentifier(owner) { return }
            s.entries[connection] = nil
        }
    }

    /// `owner` (a new session) takes `connection` over; the previous owner's token is dropped
    /// and its later writes ignored.
    func adopt(_ connection: String, owner: AnyObject) {
        state.withLockedValue { s in
            s.owners[connection] = ObjectIdentifier(owner)
            s.entries[connection] = nil
        }
    }

    /// `connection` is gone: its token is dropped and no session may write it any more.
    func retire(_ connection: String) {
        state.withLockedValue { s in
            s.owners[connection] = nil
            s.entries[connection] = nil
        }
    }

    /// Whether the token held for `connection` has only an assumed expiry.
    public func expiryAssumed(_ connection: String) -> Bool {
        state.withLockedValue { $0.entries[connection]?.expiryAssumed ?? false }
    }

    /// The token if it stays valid for `minValid` seconds from `now`.
    public func token(_ connection: String, minValid: TimeInterval, now: Date? = nil) -> String? {
        entry(connection, minValid: minValid, now: now)?.accessToken
    }

    /// Token and expiry if valid for `minValid` seconds — capped, like the session, at half
    /// the token's lifetime, so that the answer is the same with or without the cache.
    public func entry(_ connection: String, minValid: TimeInterval, now: Date? = nil) -> (accessToken: String, expiresAt: Date?)? {
        let now = now ?? clock.now()
        return state.withLockedValue { s in
            guard let entry = s.entries[connection] else { return nil }
            if let expiresAt = entry.expiresAt {
                let needed = entry.lifetime.map { $0 > 0 ? min(minValid, $0 / 2) : minValid } ?? minValid
                if expiresAt.timeIntervalSince(now) < needed { return nil }
            }
            return (entry.accessToken, entry.expiresAt)
        }
    }
}
