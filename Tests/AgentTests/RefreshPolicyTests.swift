import Foundation
import Testing
import Agent

/// Refresh windows and back-off (DESIGN §5): pure arithmetic.
@Suite struct RefreshPolicyTests {
    let policy = RefreshPolicy()
    let obtained = Date(timeIntervalSince1970: 1_700_000_000)

    /// Seconds before expiry at which the policy refreshes.
    func lead(lifetime: TimeInterval, random: Double) throws -> TimeInterval {
        let expires = obtained.addingTimeInterval(lifetime)
        let at = try #require(policy.refreshTime(obtainedAt: obtained, expiresAt: expires, random: random))
        return expires.timeIntervalSince(at)
    }

    @Test(arguments: [
        // lifetime, lead without jitter, largest lead with full jitter
        (30.0, 15.0, 15.0),
        (300.0, 60.0, 66.0),
        (3600.0, 360.0, 396.0),
        (86400.0, 8640.0, 9504.0),
    ])
    func windowForLifetime(lifetime: TimeInterval, base: TimeInterval, full: TimeInterval) throws {
        #expect(try lead(lifetime: lifetime, random: 0) == base)
        #expect(abs(try lead(lifetime: lifetime, random: 1) - full) < 1e-9)
        for random in stride(from: 0.0, through: 1.0, by: 0.05) {
            let l = try lead(lifetime: lifetime, random: random)
            #expect(l <= lifetime / 2, "lead \(l) s for a \(lifetime) s token is beyond half the lifetime")
            if lifetime >= 2 * policy.minimumWindow { #expect(l >= policy.minimumWindow) }
            #expect(l >= base && l <= full)
        }
    }

    @Test func jitterIsClampedToItsBounds() throws {
        #expect(try lead(lifetime: 3600, random: -5) == 360)
        #expect(abs(try lead(lifetime: 3600, random: 7) - 396) < 1e-9)
        // The default random source stays within the bounds too.
        for _ in 0..<200 {
            let expires = obtained.addingTimeInterval(3600)
            let at = try #require(policy.refreshTime(obtainedAt: obtained, expiresAt: expires))
            let l = expires.timeIntervalSince(at)
            #expect(l >= 360 && l <= 396)
        }
    }

    @Test func unknownOrPastExpiry() {
        #expect(policy.refreshTime(obtainedAt: obtained, expiresAt: nil) == nil)
        // A token that expired at (or before) issue is refreshed at its expiry.
        let past = obtained.addingTimeInterval(-10)
        #expect(policy.refreshTime(obtainedAt: obtained, expiresAt: past, random: 1) == past)
        #expect(policy.refreshTime(obtainedAt: obtained, expiresAt: obtained, random: 1) == obtained)
    }

    @Test func backoffDoublesUpToTheCap() {
        #expect((1...8).map { policy.backoff(attempt: $0) } == [10, 10, 20, 40, 60, 60, 60, 60])
        #expect(policy.backoff(attempt: 0) == 10)
        #expect(policy.backoff(attempt: -3) == 10)
        #expect(policy.backoff(attempt: 1_000_000) == 60)
        for attempt in 1..<40 { #expect(policy.backoff(attempt: attempt + 1) >= policy.backoff(attempt: attempt)) }
    }
}
