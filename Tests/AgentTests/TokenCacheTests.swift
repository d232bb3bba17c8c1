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
}
