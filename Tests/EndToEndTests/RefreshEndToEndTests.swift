import Foundation
import Testing
import TestSupport

/// Refresh against the real authorization server with short-lived access tokens
/// (`/test/access-token-lifetime`): proactive refresh with no caller, rotation persisted
/// in the keyring, crash safety, and one refresh for many callers of an expired token.
extension EndToEnd {
    @Suite("Refresh end to end")
    struct RefreshEndToEnd {
        let stack = Stack.current!

        @Test("a 20 s token is refreshed before expiry with no caller; the rotation is in the keyring", .timeLimit(.minutes(2)))
        func proactiveRefresh() throws {
            let previous = try stack.setAccessTokenLifetime(20)
            defer { _ = try? stack.setAccessTokenLifetime(previous) }
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            try agent.start()
            let first = try agent.cli(["token", agent.connection, "--interactive", "--min-valid", "5"])
            #expect(first.status == 0, "\(first.stderr)")
            let token = first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let storedBefore = try stack.keyringSecret(connection: agent.connection)
            let before = try stack.stats()
            let status = try agent.connectionStatus()
            #expect(status["next_refresh"] != nil, "a refresh is scheduled: \(status)")
            // Window for a 20 s lifetime: at most half of it, so within ~10–11 s; wait up to 25 s.
            let deadline = Date().addingTimeInterval(25)
            var refreshed = false
            while Date() < deadline {
                if try stack.stats().delta(before, "token_calls.refresh_token") >= 1,
                   try stack.keyringSecret(connection: agent.connection) != storedBefore {
                    refreshed = true
                    break
                }
                Thread.sleep(forTimeInterval: 0.5)
            }
            #expect(refreshed, "no proactive refresh; log:\n\(agent.log().suffix(3000))")
            // The token was refreshed before the old one expired, and the new one works.
            let now = try agent.cli(["token", agent.connection, "--min-valid", "1"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(now != token)
            #expect(try stack.isActive(now))
            #expect(try agent.connectionStatus()["last_refresh"] != nil)
            #expect(!agent.log().contains(now) && !agent.log().contains(token), "no token in the log")
        }

        @Test("kill -9, token expires, restart: no new login, 100 concurrent callers cause one refresh", .timeLimit(.minutes(2)))
        func crashThenExpiredTokenOneRefresh() throws {
            let previous = try stack.setAccessTokenLifetime(6)
            defer { _ = try? stack.setAccessTokenLifetime(previous) }
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            try agent.start()
            let first = try agent.cli(["token", agent.connection, "--interactive", "--min-valid", "1"])
            #expect(first.status == 0, "\(first.stderr)")
            agent.stop(kill: true)
            try stack.setAccessTokenLifetime(previous)   // the refreshed token lives long
            Thread.sleep(forTimeInterval: 7)            // the stored access token is now expired
            let before = try stack.stats()
            try agent.start()
            let results = concurrentTokenRequests(agent: agent, count: 100, interactive: false)
            #expect(results.allSatisfy { $0 != nil }, "\(agent.log().suffix(3000))")
            #expect(Set(results.compactMap { $0 }).count == 1)
            let after = try stack.stats()
            #expect(after.delta(before, "token_calls.refresh_token") == 1)
            #expect(after.delta(before, "token_calls.authorization_code") == 0, "no new login after the crash")
            #expect(after.delta(before, "token_errors.refresh_token") == 0, "\(agent.log().suffix(4000))")
        }
    }
}
