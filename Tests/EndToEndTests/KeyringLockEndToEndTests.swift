import Foundation
import Testing
import TestSupport

/// The login keyring locked while the agent rotates tokens (issue 14, SECURITY S6): the
/// rotated set is held, used and saved once the keyring opens again or the agent stops; the
/// grant survives. These tests lock the one keyring of the session, so they run alone, in a
/// pass of their own (scripts/test.sh sets JAA_EXCLUSIVE_KEYRING=1), never beside the
/// keyring suites of the main pass.
@Suite("Keyring locked during rotation", .serialized,
       .enabled(if: Stack.isAvailable && ProcessInfo.processInfo.environment["JAA_EXCLUSIVE_KEYRING"] == "1",
                "runs in its own pass: scripts/test.sh"))
struct KeyringLockEndToEnd {
    let stack = Stack.current!

    /// Waits (bounded) until the connection's status satisfies `done`.
    func waitForStatus(_ agent: AgentHarness, seconds: TimeInterval, _ done: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(seconds)
        var status: [String: Any] = [:]
        while Date() < deadline {
            status = try agent.connectionStatus()
            if done(status) { return status }
            Thread.sleep(forTimeInterval: 0.25)
        }
        return status
    }

    /// Signs in with 20 s tokens, locks the keyring, and waits for the proactive refresh
    /// whose save fails. Returns the stored secret from before and the first token.
    func rotateWhileLocked(_ agent: AgentHarness) throws -> (stored: String, first: String) {
        try agent.start()
        let out = try agent.cli(["token", agent.connection, "--interactive", "--min-valid", "1"])
        #expect(out.status == 0, "\(out.stderr)")
        let stored = try stack.keyringSecret(connection: agent.connection)
        try stack.setKeyringLocked(true)
        let pending = try waitForStatus(agent, seconds: 40) { $0["save_pending"] as? Bool == true }
        #expect(pending["save_pending"] as? Bool == true, "\(pending)\n\(agent.log().suffix(2000))")
        return (stored, out.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test("rotated while locked: used at once, saved on unlock, the grant survives a restart", .timeLimit(.minutes(3)))
    func savedOnUnlock() throws {
        let previous = try stack.setAccessTokenLifetime(20)
        defer { _ = try? stack.setAccessTokenLifetime(previous); _ = try? stack.setKeyringLocked(false) }
        let agent = try AgentHarness(stack: stack)
        defer { agent.cleanUp() }
        let before = try stack.stats()
        let (stored, first) = try rotateWhileLocked(agent)
        // The rotated access token is served while it waits for the keyring.
        let now = try agent.cli(["token", agent.connection, "--min-valid", "1"])
        let rotated = now.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(now.status == 0 && rotated != first, "\(now.stderr)")
        #expect(try stack.isActive(rotated))
        try stack.setKeyringLocked(false)
        let saved = try waitForStatus(agent, seconds: 90) { $0["save_pending"] as? Bool == false }
        #expect(saved["save_pending"] as? Bool == false, "\(saved)\n\(agent.log().suffix(2000))")
        #expect(try stack.keyringSecret(connection: agent.connection) != stored, "the rotated set is in the keyring")
        // A restart uses the saved refresh token: no sign-in, no refused refresh.
        agent.stop(kill: true)
        try agent.start()
        let after = try agent.cli(["token", agent.connection, "--min-valid", "1"])
        #expect(after.status == 0, "\(after.stderr)\n\(agent.log().suffix(2000))")
        let stats = try stack.stats()
        #expect(stats.delta(before, "token_calls.authorization_code") == 1, "only the first sign-in")
        #expect(stats.delta(before, "token_errors.refresh_token") == 0, "no refresh token was refused")
    }

    @Test("SIGTERM while the save is pending: saved at shutdown, the grant survives", .timeLimit(.minutes(3)))
    func savedAtShutdown() throws {
        let previous = try stack.setAccessTokenLifetime(20)
        defer { _ = try? stack.setAccessTokenLifetime(previous); _ = try? stack.setKeyringLocked(false) }
        let agent = try AgentHarness(stack: stack)
        defer { agent.cleanUp() }
        let before = try stack.stats()
        let (stored, _) = try rotateWhileLocked(agent)
        try stack.setKeyringLocked(false)
        agent.stop()   // SIGTERM: the save still owed is written before the agent exits
        #expect(try stack.keyringSecret(connection: agent.connection) != stored, "saved at shutdown (or just before)")
        try agent.start()
        let after = try agent.cli(["token", agent.connection, "--min-valid", "1"])
        #expect(after.status == 0, "\(after.stderr)\n\(agent.log().suffix(2000))")
        #expect(try stack.stats().delta(before, "token_errors.refresh_token") == 0)
    }

    @Test("revoke with the keyring locked until the agent stops: after a restart and an unlock the tokens never come back", .timeLimit(.minutes(3)))
    func revokedWhileLockedStaysRevoked() throws {
        defer { _ = try? stack.setKeyringLocked(false) }
        let agent = try AgentHarness(stack: stack)
        defer { agent.cleanUp() }
        try agent.start()
        let signIn = try agent.cli(["token", agent.connection, "--interactive", "--min-valid", "1"])
        #expect(signIn.status == 0, "\(signIn.stderr)")
        try stack.setKeyringLocked(true)
        let revoke = try agent.cli(["revoke", agent.connection, "--json"])
        #expect(revoke.status == 75, "the keyring write is still owed: \(revoke.stdout)\(revoke.stderr)")
        #expect(revoke.stdout.contains("\"keyring_pending\" : true"), "\(revoke.stdout)")
        #expect(try agent.cli(["token", agent.connection]).status == 77, "the barrier holds in memory")
        agent.stop()   // SIGTERM: the deletion is tried once more, and fails: still locked
        try agent.start()
        try stack.setKeyringLocked(false)
        // The old item is still in the keyring; it is a revocation to finish, never a token.
        #expect(try !stack.keyringSecret(connection: agent.connection).isEmpty)
        let after = try agent.cli(["token", agent.connection, "--interactive"])
        #expect(after.status == 77 && after.stderr.contains("revoke \(agent.connection)"), "\(after.stdout)\(after.stderr)")
        let finish = try agent.cli(["revoke", agent.connection])
        #expect(finish.status == 0, "\(finish.stdout)\(finish.stderr)")
        #expect(try stack.keyringSecret(connection: agent.connection).isEmpty)
        // Signing in again works once the revocation is finished.
        #expect(try agent.cli(["token", agent.connection, "--interactive", "--min-valid", "1"]).status == 0)
    }
}
