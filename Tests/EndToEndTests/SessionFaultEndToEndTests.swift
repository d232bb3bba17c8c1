import Foundation
import Testing
import TestSupport

/// The session's rules under faults made real (issue 14): a token endpoint that fails, a
/// gateway that refuses every token, absurd token lifetimes, revocations that race callers
/// or that the server does not confirm. Bounds on request counts are stated against the
/// measured window (the rules allow one token request per 10 s, plus the first), so a slow
/// machine cannot fail them and a refresh storm cannot pass them.
extension EndToEnd {
    @Suite("Session faults end to end")
    struct SessionFaults {
        let stack = Stack.current!

        /// Token requests the rules allow in `seconds`: the first, then one per 10 s.
        static func allowed(_ seconds: TimeInterval) -> Int { 2 + Int(seconds / 10) }

        func signedIn(_ agent: AgentHarness, minValid: Int = 1) throws -> String {
            try agent.start()
            let out = try agent.cli(["token", agent.connection, "--interactive", "--min-valid", "\(minValid)"])
            #expect(out.status == 0, "\(out.stderr)\n\(agent.log().suffix(2000))")
            return out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        @Test("a token endpoint answering 503: the grant is kept and token requests stay bounded", .timeLimit(.minutes(3)))
        func tokenEndpointDown() throws {
            let previous = try stack.setAccessTokenLifetime(20)
            defer { _ = try? stack.setAccessTokenLifetime(previous); _ = try? stack.fault("token", status: 0) }
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            let first = try signedIn(agent)
            try stack.fault("token", status: 503)
            let before = try stack.stats()
            let started = Date()
            // Callers every 100 ms that want more validity than is left, through and past
            // the token's expiry, while the timer tries too.
            while Date().timeIntervalSince(started) < 25 {
                _ = try agent.cli(["token", agent.connection, "--min-valid", "15"])
                Thread.sleep(forTimeInterval: 0.1)
            }
            let window = Date().timeIntervalSince(started)
            let attempts = try stack.stats().delta(before, "token_calls.refresh_token")
            #expect(attempts >= 1, "the agent kept trying")
            #expect(attempts <= Self.allowed(window), "\(attempts) token requests in \(Int(window)) s")
            let status = try agent.connectionStatus()
            #expect(status["state"] as? String == "authorized", "the grant is kept: \(status)")
            #expect((status["refresh_failures"] as? Int ?? 0) >= 1)
            // The endpoint recovers: the same grant renews, no new sign-in.
            try stack.fault("token", status: 0)
            let deadline = Date().addingTimeInterval(90)
            var renewed: String?
            while Date() < deadline {
                let out = try agent.cli(["token", agent.connection, "--min-valid", "5"])
                if out.status == 0, out.stdout.trimmingCharacters(in: .whitespacesAndNewlines) != first {
                    renewed = out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                    break
                }
                Thread.sleep(forTimeInterval: 0.5)
            }
            #expect(renewed != nil, "\(agent.log().suffix(2000))")
            #expect(try stack.stats().delta(before, "token_calls.authorization_code") == 0)
        }

        @Test("invalid_client on refresh (a wrong client secret): the grant is kept, the message names client_auth", .timeLimit(.minutes(2)))
        func clientAuthenticationRefused() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            let first = try signedIn(agent)
            agent.stop()
            // The same grant, but the agent now authenticates with a wrong secret.
            let wrong = agent.directory.appendingPathComponent("wrong.secret").path
            try "not-the-secret+/=".write(toFile: wrong, atomically: true, encoding: .utf8)
            chmod(wrong, 0o600)
            let config = try String(contentsOfFile: agent.configFile, encoding: .utf8)
            try config.replacingOccurrences(of: stack.value("CLIENT_SECRET_FILE"), with: wrong)
                .write(toFile: agent.configFile, atomically: true, encoding: .utf8)
            try agent.start()
            let before = try stack.stats()
            // Jira stops taking the access token: the proxy must refresh, and is refused.
            let reject = stack.value("JIRA_STATS_URL").replacingOccurrences(of: "/test/stats", with: "/test/reject-token")
            #expect(try Run.capture(["curl", "-sf", "--data-binary", "@-", reject], stdin: first).status == 0)
            let myself = try agent.proxyURL + "/jira/\(agent.connection)/rest/api/2/myself"
            let refused = try Run.capture(["curl", "-s", "-w", "\n%{http_code}", myself])
            #expect(!refused.stdout.hasSuffix("200"), "\(refused.stdout)")
            #expect(try stack.stats().delta(before, "token_calls.refresh_token") >= 1)
            let status = try agent.connectionStatus()
            #expect(status["state"] as? String == "authorized" && status["has_refresh_token"] as? Bool == true, "the grant is kept: \(status)")
            let lastError = status["last_error"] as? String ?? ""
            #expect(lastError.contains("invalid_client") && lastError.contains("client_auth = \"post\""), "\(lastError)")
            #expect(!lastError.contains("login"), "signing in again cannot fix the client: \(lastError)")
            #expect(try stack.keyringSecret(connection: agent.connection).contains(first), "the keyring item is untouched")
            // The admin fixes the secret: the same grant renews, no new sign-in.
            agent.stop()
            try config.write(toFile: agent.configFile, atomically: true, encoding: .utf8)
            try agent.start()
            let renewed = try Run.capture(["curl", "-s", "-w", "\n%{http_code}", try agent.proxyURL + "/jira/\(agent.connection)/rest/api/2/myself"])
            #expect(renewed.stdout.hasSuffix("200") && renewed.stdout.contains("alice"), "\(renewed.stdout)\n\(agent.log().suffix(2000))")
            #expect(try stack.stats().delta(before, "token_calls.authorization_code") == 0)
        }

        @Test("revoke with no revocation endpoint: exit 0, status advises nothing, a second revoke has nothing to list", .timeLimit(.minutes(2)))
        func revokeWithoutAnEndpoint() throws {
            let toml = AgentHarness.standardConnection(stack).split(separator: "\n").filter { !$0.hasPrefix("revocation_url") }.joined(separator: "\n")
            let agent = try AgentHarness(stack: stack, connectionTOML: toml)
            defer { agent.cleanUp() }
            _ = try signedIn(agent)
            let first = try agent.cli(["revoke", agent.connection, "--json"])
            #expect(first.status == 0, "\(first.stdout) \(first.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
            #expect(report["no_revocation_endpoint"] as? Bool == true && report["deleted_from_keyring"] as? Bool == true, "\(report)")
            let status = try agent.connectionStatus()
            #expect(status["revocation_pending"] as? Bool == false, "\(status)")
            let advice = (status["last_error"] as? String ?? "") + (try agent.cli(["status", agent.connection]).stdout)
            #expect(!advice.contains("jira-auth-agent revoke"), "no retry can succeed without an endpoint: \(advice)")
            let second = try agent.cli(["revoke", agent.connection, "--json"])
            #expect(second.status == 0, "\(second.stdout) \(second.stderr)")
            let again = try #require(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any])
            #expect((again["uncertain"] as? [String] ?? []).isEmpty, "nothing held, nothing uncertain: \(again)")
            #expect(again["deleted_from_keyring"] as? Bool == false)
            #expect(try agent.cli(["revoke", agent.connection]).stdout.contains("No tokens were stored"))
        }

        @Test("a gateway that refuses every token: one refresh per interval, not one per request", .timeLimit(.minutes(2)))
        func gatewayAlwaysRefuses() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp(); _ = try? stack.gatewayRefusesEverything(false) }
            _ = try signedIn(agent)
            let url = try agent.proxyURL + "/jira/\(agent.connection)/rest/api/2/myself"
            try stack.gatewayRefusesEverything(true)
            let before = try stack.stats()
            let started = Date()
            for _ in 0..<30 {
                let out = try Run.capture(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url])
                #expect(out.stdout == "401")
            }
            let window = Date().timeIntervalSince(started)
            let refreshes = try stack.stats().delta(before, "token_calls.refresh_token")
            #expect(refreshes >= 1, "a refused token is refreshed")
            #expect(refreshes <= Self.allowed(window), "\(refreshes) refreshes for 30 requests in \(Int(window)) s")
        }

        @Test("expires_in of 1 s: refreshes stay bounded and status names the server problem", .timeLimit(.minutes(2)))
        func absurdLifetime() throws {
            let previous = try stack.setAccessTokenLifetime(1)
            defer { _ = try? stack.setAccessTokenLifetime(previous) }
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            _ = try signedIn(agent, minValid: 0)   // (a 1 s token cannot be valid for 1 s more)
            let before = try stack.stats()
            let started = Date()
            // No callers: the timer alone, for at least 25 s.
            var refreshes = 0
            while Date().timeIntervalSince(started) < 25 {
                refreshes = try stack.stats().delta(before, "token_calls.refresh_token")
                Thread.sleep(forTimeInterval: 0.5)
            }
            let window = Date().timeIntervalSince(started)
            refreshes = try stack.stats().delta(before, "token_calls.refresh_token")
            #expect(refreshes >= 2, "tokens are still renewed")
            #expect(refreshes <= Self.allowed(window), "\(refreshes) refreshes in \(Int(window)) s")
            #expect((try agent.connectionStatus()["server_note"] as? String ?? "").contains("expires_in"))
        }

        @Test("revoke while 50 callers ask for tokens: nothing is handed out after it, the server revoked, the keyring empty", .timeLimit(.minutes(2)))
        func revokeDuringCallers() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            let token = try signedIn(agent)
            let before = try stack.stats()
            let calls = CallLog()
            let group = DispatchGroup()
            for _ in 0..<50 {
                DispatchQueue.global().async(group: group) {
                    while !calls.stopped {
                        let start = Date()
                        let out = try? agent.cli(["token", agent.connection, "--min-valid", "1"])
                        calls.add(start: start, status: out?.status ?? -1, token: out?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
                    }
                }
            }
            while calls.count < 50 { Thread.sleep(forTimeInterval: 0.01) }
            let revoke = try agent.cli(["revoke", agent.connection])
            let revoked = Date()
            while calls.count(startedAfter: revoked) < 50 { Thread.sleep(forTimeInterval: 0.01) }
            calls.stop()
            #expect(group.wait(timeout: .now() + 60) == .success)
            #expect(revoke.status == 0, "\(revoke.stdout)\(revoke.stderr)")
            // Tokens handed out were the one token, and only before the revoke returned.
            #expect(calls.tokens(where: { $0.status == 0 }) == [token])
            let after = calls.entries.filter { $0.start > revoked }
            #expect(!after.isEmpty && after.allSatisfy { $0.status == 77 }, "\(after.filter { $0.status != 77 }.prefix(3))")
            #expect(try stack.stats().delta(before, "token_calls.refresh_token") == 0, "nothing was refreshed")
            #expect(try !stack.isActive(token), "revoked at the server")
            #expect(try stack.keyringSecret(connection: agent.connection).isEmpty)
            #expect(try agent.connectionStatus()["state"] as? String == "revoked")
        }

        @Test("an unconfirmed revocation stays marked, is never served, and a second revoke after a restart finishes it", .timeLimit(.minutes(2)))
        func unconfirmedRevocationFinishedLater() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp(); _ = try? stack.fault("revoke", status: 0) }
            let token = try signedIn(agent)
            try stack.fault("revoke", status: 503)
            let first = try agent.cli(["revoke", agent.connection])
            #expect(first.status == 75, "\(first.stdout)\(first.stderr)")
            #expect(first.stdout.contains("marked as revoked"))
            #expect(try stack.keyringSecret(connection: agent.connection).contains("\"revocation_pending\":true"))
            #expect(try agent.cli(["token", agent.connection]).status == 77)
            // After a restart the marked item is a revocation to finish, never a token.
            agent.stop()
            try agent.start()
            let again = try agent.cli(["token", agent.connection, "--interactive"])
            #expect(again.status == 77 && again.stderr.contains("revoke \(agent.connection)"), "\(again.stderr)")
            #expect(try agent.connectionStatus()["revocation_pending"] as? Bool == true)
            #expect(try stack.isActive(token), "(the server really did not revoke it yet)")
            try stack.fault("revoke", status: 0)
            let second = try agent.cli(["revoke", agent.connection])
            #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
            #expect(try !stack.isActive(token))
            #expect(try stack.keyringSecret(connection: agent.connection).isEmpty)
        }

        @Test("with the agent down: revoke against a failing server keeps the record, and the retry finishes it", .timeLimit(.minutes(2)))
        func unconfirmedRevocationWithoutTheAgent() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp(); _ = try? stack.fault("revoke", status: 0) }
            let token = try signedIn(agent)
            agent.stop()
            try stack.fault("revoke", status: 503)
            let first = try agent.cli(["revoke", agent.connection])
            #expect(first.status == 75, "\(first.stdout)\(first.stderr)")
            #expect(try !stack.keyringSecret(connection: agent.connection).isEmpty, "not deleted")
            try stack.fault("revoke", status: 0)
            let second = try agent.cli(["revoke", agent.connection])
            #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
            #expect(second.stdout.contains("Revoked at the server"), "the retry reached the server: \(second.stdout)")
            #expect(try !stack.isActive(token))
            #expect(try stack.keyringSecret(connection: agent.connection).isEmpty)
        }
    }
}

/// Token calls made by concurrent callers: when each started, and what it got.
final class CallLog: @unchecked Sendable {
    struct Entry: Sendable { var start: Date; var status: Int32; var token: String }
    private let lock = NSLock()
    private var list: [Entry] = []
    private var done = false

    func add(start: Date, status: Int32, token: String) { lock.withLock { list.append(Entry(start: start, status: status, token: token)) } }
    var entries: [Entry] { lock.withLock { list } }
    var count: Int { lock.withLock { list.count } }
    func count(startedAfter date: Date) -> Int { lock.withLock { list.filter { $0.start > date }.count } }
    var stopped: Bool { lock.withLock { done } }
    func stop() { lock.withLock { done = true } }
    func tokens(where keep: (Entry) -> Bool) -> Set<String> { Set(entries.filter(keep).map(\.token)) }
}
