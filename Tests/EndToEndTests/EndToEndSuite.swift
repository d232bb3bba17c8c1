import Foundation
import Testing
import TestSupport

/// Every end-to-end test drives the built `jira-auth-agent` binary against the real stack
/// (scripts/with-stack.sh): gnome-keyring on a private D-Bus, django-oauth-toolkit, the
/// Jira stand-in behind introspection, headless Chromium as `$BROWSER`. Serialized: the
/// tests count requests at the authorization server and change its token lifetime, so
/// every end-to-end suite is nested here and runs one test at a time.
@Suite("End to end", .serialized, .enabled(if: Stack.isAvailable, "needs scripts/with-stack.sh"))
struct EndToEnd {
    let stack = Stack.current!

    @Test("first token request runs one browser login; tokens land in the keyring", .timeLimit(.minutes(2)))
    func firstTokenRequestLogsIn() throws {
        let agent = try AgentHarness(stack: stack)
        defer { agent.cleanUp() }
        try agent.start()
        let before = try stack.stats()
        let out = try agent.cli(["token", agent.connection, "--interactive"])
        #expect(out.status == 0, "\(out.stderr)\n\(agent.log())")
        let token = out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.count >= 20)
        #expect(!out.stdout.contains(" "), "token prints only the token")
        let after = try stack.stats()
        #expect(after.delta(before, "token_calls.authorization_code") == 1)
        #expect(try stack.isActive(token))
        // The keyring holds the item with our attributes (cross-checked with secret-tool).
        let search = try Run.capture(["secret-tool", "search", "--all", "connection", agent.connection])
        #expect(search.stdout.contains("attribute.jira_url = \(stack.jiraURL)") || search.stderr.contains("attribute.jira_url = \(stack.jiraURL)"))
        #expect((search.stdout + search.stderr).contains("attribute.account = alice"))
        // The access token is served from memory now: no further token-endpoint call.
        let again = try agent.cli(["token", agent.connection])
        #expect(again.stdout == out.stdout)
        #expect(try stack.stats().delta(after, "token_calls.authorization_code") == 0)
        // Nothing secret in the agent's log.
        #expect(!agent.log().contains(token))
    }

    @Test("100 concurrent callers without tokens share one login", .timeLimit(.minutes(2)))
    func concurrentCallersShareOneLogin() throws {
        let agent = try AgentHarness(stack: stack)
        defer { agent.cleanUp() }
        try agent.start()
        let before = try stack.stats()
        let results = concurrentTokenRequests(agent: agent, count: 100, interactive: true)
        let tokens = Set(results.compactMap { $0 })
        #expect(results.allSatisfy { $0 != nil }, "\(agent.log().suffix(2000))")
        #expect(tokens.count == 1)
        #expect(try stack.stats().delta(before, "token_calls.authorization_code") == 1)
    }

    @Test("without tokens a non-interactive request says how to authorize (exit 77)")
    func nonInteractiveNeedsAuthorization() throws {
        let agent = try AgentHarness(stack: stack)
        defer { agent.cleanUp() }
        try agent.start()
        let out = try agent.cli(["token", agent.connection])
        #expect(out.status == 77)
        #expect(out.stderr.contains("jira-auth-agent login \(agent.connection)"))
        #expect(out.stdout.isEmpty)
    }

    @Test("hostile callbacks during a real login are answered and ignored", .timeLimit(.minutes(2)))
    func hostileCallbacksDoNotEndLogin() throws {
        let agent = try AgentHarness(stack: stack)
        defer { agent.cleanUp() }
        let hostile = agent.directory.appendingPathComponent("hostile-browser").path
        try """
        #!/bin/sh
        # Before the real browser: what a malicious page could send to the listener.
        base=$(printf %s "$1" | sed -E 's#(http://127\\.0\\.0\\.1:[0-9]+)/.*#\\1#')
        port=${base##*:}
        {
          curl -s -o /dev/null -w '%{http_code} ' "$base/callback?code=evil&state=forged"
          curl -s -o /dev/null -w '%{http_code} ' "$base/callback?error=access_denied&state=forged"
          curl -s -o /dev/null -w '%{http_code} ' "$base/favicon.ico"
          curl -s -o /dev/null -w '%{http_code} ' -H "Host: evil.example:$port" "$base/callback?code=evil&state=forged"
          curl -s -o /dev/null -w '%{http_code} ' "$base/"
        } > "$(dirname "$0")/hostile.codes" 2>&1
        exec "\(stack.browser)" "$1"
        """.write(toFile: hostile, atomically: true, encoding: .utf8)
        chmod(hostile, 0o755)
        agent.extraEnv["BROWSER"] = hostile
        try agent.start()
        let out = try agent.cli(["token", agent.connection, "--interactive"])
        #expect(out.status == 0, "\(out.stderr)\n\(agent.log().suffix(3000))")
        let codes = (try? String(contentsOfFile: agent.directory.appendingPathComponent("hostile.codes").path, encoding: .utf8)) ?? ""
        #expect(codes.split(separator: " ") == ["400", "400", "404", "421", "404"], "answers: \(codes)")
    }

    @Test("denied consent: clear error, nothing stored", .timeLimit(.minutes(2)))
    func deniedConsent() throws {
        let agent = try AgentHarness(stack: stack)
        defer { agent.cleanUp() }
        agent.extraEnv["BROWSER_CONSENT"] = "deny"
        try agent.start()
        let out = try agent.cli(["token", agent.connection, "--interactive"])
        #expect(out.status == 77)
        #expect(out.stderr.contains("not granted"))
        let search = try Run.capture(["secret-tool", "search", "--all", "connection", agent.connection])
        #expect(!(search.stdout + search.stderr).contains("attribute.connection"))
        #expect(try agent.connectionStatus()["state"] as? String == "unauthorized")
    }

    @Test("revoke: both tokens inactive at the server, keyring item gone", .timeLimit(.minutes(2)))
    func revokeEndToEnd() throws {
        let agent = try AgentHarness(stack: stack)
        defer { agent.cleanUp() }
        try agent.start()
        let token = try agent.cli(["token", agent.connection, "--interactive"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try stack.isActive(token))
        let out = try agent.cli(["revoke", agent.connection, "--json"])
        #expect(out.status == 0, "\(out.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(report["revoked"] as? [String] == ["refresh_token", "access_token"])
        #expect(report["deleted_from_keyring"] as? Bool == true)
        #expect(try !stack.isActive(token))
        let search = try Run.capture(["secret-tool", "search", "--all", "connection", agent.connection])
        #expect(!(search.stdout + search.stderr).contains("attribute.connection"))
        let after = try agent.cli(["token", agent.connection])
        #expect(after.status == 77)
        #expect(try agent.connectionStatus()["state"] as? String == "revoked")
    }

    @Test("refresh token revoked behind the agent's back: needs authorization, shown in status", .timeLimit(.minutes(2)))
    func refreshTokenRevokedBehindTheBack() throws {
        let previous = try stack.setAccessTokenLifetime(4)
        defer { _ = try? stack.setAccessTokenLifetime(previous) }
        let agent = try AgentHarness(stack: stack)
        defer { agent.cleanUp() }
        try agent.start()
        #expect(try agent.cli(["token", agent.connection, "--interactive", "--min-valid", "1"]).status == 0)
        _ = try Run.capture(["curl", "-sf", "-X", "POST", "\(stack.asURL)/test/revoke-refresh-tokens"])
        // The scheduler refreshes at half the 4 s lifetime, is refused (invalid_grant), re-reads
        // the keyring, finds nothing newer, and gives up: no caller needed.
        let deadline = Date().addingTimeInterval(20)
        var status: [String: Any] = [:]
        while Date() < deadline {
            status = try agent.connectionStatus()
            if status["state"] as? String == "needs_authorization" { break }
            Thread.sleep(forTimeInterval: 0.25)
        }
        #expect(status["state"] as? String == "needs_authorization", "\(status)\n\(agent.log().suffix(2000))")
        #expect((status["last_error"] as? String ?? "").contains("login"))
        #expect(status["account"] as? String == "alice")
        let out = try agent.cli(["token", agent.connection])
        #expect(out.status == 77, "\(out.stderr)")
        #expect(out.stderr.contains("jira-auth-agent login \(agent.connection)"))
    }

    @Test("a second agent for the same user is refused")
    func secondInstanceRefused() throws {
        let agent = try AgentHarness(stack: stack)
        defer { agent.cleanUp() }
        try agent.start()
        let second = try agent.cli(["serve", "--proxy-port", "0"], timeout: 20)
        #expect(second.status == 69)
        #expect(second.stderr.contains("already running"))
    }

    @Test("another UID cannot use the socket")
    func otherUIDRefused() throws {
        let agent = try AgentHarness(stack: stack)
        defer { agent.cleanUp() }
        try agent.start()
        let attrs = try FileManager.default.attributesOfItem(atPath: agent.socket)
        #expect((attrs[.posixPermissions] as? Int).map { $0 & 0o077 } == 0)
        let dir = try FileManager.default.attributesOfItem(atPath: agent.runtimeDirectory)
        #expect((dir[.posixPermissions] as? Int) == 0o700)
        guard getuid() == 0 else { return }
        // Even with the permissions opened up, SO_PEERCRED refuses another user.
        chmod(agent.runtimeDirectory, 0o755)
        chmod(agent.socket, 0o666)
        let out = try Run.capture(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                   "curl", "-s", "-w", "%{http_code}", "--unix-socket", agent.socket, "http://localhost/v1/status"])
        #expect(!out.stdout.contains("\"connections\""), "\(out.stdout)")
        #expect(out.stdout.hasSuffix("403") || out.stdout.hasSuffix("000"), "\(out.stdout)")
    }
}

extension Dictionary where Key == String, Value == Int {
    func delta(_ before: [String: Int], _ key: String) -> Int { (self[key] ?? 0) - (before[key] ?? 0) }
}

/// `count` token requests at once over the socket; each result is the token or nil.
func concurrentTokenRequests(agent: AgentHarness, count: Int, interactive: Bool, minValid: Int = 30) -> [String?] {
    let results = ResultsBox(count: count)
    DispatchQueue.concurrentPerform(iterations: count) { i in
        let out = try? Run.capture(["curl", "-s", "--max-time", "120", "--unix-socket", agent.socket,
                                    "-H", "Content-Type: application/json",
                                    "-d", "{\"min_valid\": \(minValid), \"interactive\": \(interactive)}",
                                    "http://localhost/v1/connections/\(agent.connection)/token"])
        let object = out.flatMap { try? JSONSerialization.jsonObject(with: Data($0.stdout.utf8)) as? [String: Any] }
        results.set(i, object?["access_token"] as? String)
    }
    return results.values
}

final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String?]
    init(count: Int) { storage = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: String?) { lock.withLock { storage[i] = value } }
    var values: [String?] { lock.withLock { storage } }
}
