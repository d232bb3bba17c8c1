public import Foundation
import NIOConcurrencyHelpers
import OAuth

/// The proxy's hot path: the current access token per connection behind one lock, read
/// without suspending. Sessions write it; nothing else does.
public final class TokenCache: Sendable {
    private struct Entry {
        var accessToken: String
        var expiresAt: Date?
    }
    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    public init() {}

    func set(_ connection: String, _ tokens: TokenSet) {
        entries.withLockedValue { $0[connection] = Entry(accessToken: tokens.accessToken, expiresAt: tokens.expiresAt) }
    }

    func remove(_ connection: String) {
        entries.withLockedValue { $0[connection] = nil }
    }

    /// The token if it stays valid for `minValid` seconds from `now`.
    public func token(_ connection: String, minValid: TimeInterval, now: Date = Date()) -> String? {
        entries.withLockedValue { entries in
            guard let entry = entries[connection] else { return nil }
            if let expiresAt = entry.expiresAt, expiresAt.timeIntervalSince(now) < minValid { return nil }
            return entry.accessToken
        }
    }
}
