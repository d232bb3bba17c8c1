import Foundation
import OAuth
import Testing
@testable import Agent

/// The proxy's token cache: a token is handed out only while it stays valid long enough.
@Suite struct TokenCacheTests {
    let now = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func minValidIsHonoured() {
        let cache = TokenCache()
        cache.set("acme", TokenSet(accessToken: "at-1", refreshToken: "rt-1", expiresAt: now.addingTimeInterval(100)))
        #expect(cache.token("acme", minValid: 0, now: now) == "at-1")
        #expect(cache.token("acme", minValid: 30, now: now) == "at-1")
        #expect(cache.token("acme", minValid: 100, now: now) == "at-1")
        #expect(cache.token("acme", minValid: 101, now: now) == nil)
        #expect(cache.token("acme", minValid: 0, now: now.addingTimeInterval(100)) == "at-1")
        #expect(cache.token("acme", minValid: 0, now: now.addingTimeInterval(101)) == nil)
        #expect(cache.token("other", minValid: 0, now: now) == nil)
    }

    @Test func unknownExpiryIsAlwaysHandedOut() {
        let cache = TokenCache()
        cache.set("acme", TokenSet(accessToken: "at-1"))
        #expect(cache.token("acme", minValid: 3600, now: .distantFuture) == "at-1")
    }

    @Test func setReplacesAndRemoveForgets() {
        let cache = TokenCache()
        cache.set("acme", TokenSet(accessToken: "at-1", expiresAt: now.addingTimeInterval(10)))
        cache.set("acme", TokenSet(accessToken: "at-2", expiresAt: now.addingTimeInterval(1000)))
        cache.set("labs", TokenSet(accessToken: "at-labs", expiresAt: now.addingTimeInterval(1000)))
        #expect(cache.token("acme", minValid: 60, now: now) == "at-2")
        cache.remove("acme")
        #expect(cache.token("acme", minValid: 0, now: now) == nil)
        #expect(cache.token("labs", minValid: 0, now: now) == "at-labs")
    }

    /// After a reload replaced a connection, the old session (say, finishing a refresh that
    /// was in flight) can no longer put its token — issued for the old servers — back.
    @Test func onlyTheOwningSessionWrites() {
        final class Owner {}
        let cache = TokenCache()
        let old = Owner(), new = Owner()
        cache.adopt("acme", owner: old)
        cache.set("acme", TokenSet(accessToken: "at-old"), owner: old)
        #expect(cache.token("acme", minValid: 0, now: now) == "at-old")
        cache.adopt("acme", owner: new)
        #expect(cache.token("acme", minValid: 0, now: now) == nil, "the old session's token went with it")
        cache.set("acme", TokenSet(accessToken: "at-late"), owner: old)
        cache.remove("acme", owner: old)
        #expect(cache.token("acme", minValid: 0, now: now) == nil)
        cache.set("acme", TokenSet(accessToken: "at-new"), owner: new)
        cache.remove("acme", owner: old)
        #expect(cache.token("acme", minValid: 0, now: now) == "at-new")
        cache.retire("acme")
        cache.set("acme", TokenSet(accessToken: "at-after"), owner: new)
        #expect(cache.token("acme", minValid: 0, now: now) == nil, "a removed connection takes no writes")
    }
}
