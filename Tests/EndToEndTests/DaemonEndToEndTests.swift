import Foundation
import Testing
import TestSupport

extension EndToEnd {
    /// The daemon itself: reload, hardening, status, `login` through the running agent.
    @Suite("Daemon end to end")
    struct DaemonEndToEnd {
        let stack = Stack.current!

        @Test("SIGHUP reloads the catalogs: a new connection appears, the old one keeps its tokens", .timeLimit(.minutes(2)))
        func reloadOnHangup() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            try agent.start()
            let token = try agent.cli(["token", agent.connection, "--interactive"]).stdout
            let original = try String(contentsOfFile: agent.configFile, encoding: .utf8)
            let extraID = agent.connection + "-b"
            try (original + "\n" + AgentHarness.standardConnection(stack).replacingOccurrences(of: "{ID}", with: extraID)
                .replacingOccurrences(of: "default = true", with: "default = false")).write(toFile: agent.configFile, atomically: true, encoding: .utf8)
            kill(agent.process!.processIdentifier, SIGHUP)
            var ids: [String] = []
            for _ in 0..<50 {
                ids = (try agent.status()["connections"] as? [[String: Any]] ?? []).compactMap { $0["connection"] as? String }
                if ids.contains(extraID) { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            #expect(ids.contains(extraID), "\(ids)\n\(agent.log().suffix(1500))")
            #expect(try agent.connectionStatus()["state"] as? String == "authorized")
            #expect(try agent.cli(["token", agent.connection]).stdout == token, "unchanged connection kept its tokens")
            _ = try? Run.capture(["secret-tool", "clear", "connection", extraID])
        }

        @Test("hardening and status: no core files, keyring health shown")
        func hardeningAndStatus() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            try agent.start()
            let pid = agent.process!.processIdentifier
            let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
            let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") } ?? ""
            #expect(core.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).prefix(2) == ["0", "0"], "\(core)")
            let status = try agent.status()
            let info = status["agent"] as? [String: Any] ?? [:]
            #expect(info["keyring_health"] as? String == "ok")
            let text = try agent.cli(["status"]).stdout
            #expect(text.contains("keyring: ok"))
            #expect(text.contains("state:        unauthorized"))
        }

        @Test("login through the running agent: the agent opens the browser, the CLI shows the URL and the account", .timeLimit(.minutes(2)))
        func loginThroughAgent() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            try agent.start()
            let before = try stack.stats()
            let out = try agent.cli(["login", agent.connection])
            #expect(out.status == 0, "\(out.stderr)")
            #expect(out.stdout.contains("as alice"))
            #expect(out.stderr.contains("http://127.0.0.1:"), "the one-time start URL is shown: \(out.stderr)")
            #expect(!out.stderr.contains("state="), "no state on the terminal")
            #expect(try stack.stats().delta(before, "token_calls.authorization_code") == 1)
            #expect(try agent.connectionStatus()["state"] as? String == "authorized")
            #expect(try agent.connectionStatus()["authorization_prompt"] == nil)
        }

        /// The timeout (30 s) is long enough for the second, real sign-in in headless
        /// Chromium on a loaded machine.
        @Test("a sign-in nobody finishes times out, the session recovers, and the next one works", .timeLimit(.minutes(3)))
        func abandonedSignInTimesOut() throws {
            let agent = try AgentHarness(stack: stack, connectionTOML: AgentHarness.standardConnection(stack, extra: "authorization_timeout = 30"))
            defer { agent.cleanUp() }
            // A browser that opens nothing until the flag file exists (a user who closed the tab).
            let flag = agent.directory.appendingPathComponent("browser-enabled").path
            let browser = agent.directory.appendingPathComponent("lazy-browser").path
            try "#!/bin/sh\n[ -e '\(flag)' ] && exec '\(stack.browser)' \"$1\"\nexit 0\n".write(toFile: browser, atomically: true, encoding: .utf8)
            chmod(browser, 0o755)
            agent.extraEnv["BROWSER"] = browser
            try agent.start()
            let started = Date()
            let first = try agent.cli(["token", agent.connection, "--interactive"])
            #expect(first.status == 77, "\(first.stderr)")
            #expect(first.stderr.contains("within 30 s"), "\(first.stderr)")
            let waited = Date().timeIntervalSince(started)
            #expect(waited >= 30 && waited < 90, "the abandoned sign-in ended after \(waited) s, not at its 30 s timeout")
            let status = try agent.connectionStatus()
            #expect(status["state"] as? String == "unauthorized")
            #expect(status["authorization_prompt"] == nil)
            _ = FileManager.default.createFile(atPath: flag, contents: nil)
            let second = try agent.cli(["token", agent.connection, "--interactive"])
            #expect(second.status == 0, "\(second.stderr)\n\(agent.log().suffix(1500))")
        }

        @Test("status with the agent stopped never refreshes (a CLI process cannot see a rotation through)", .timeLimit(.minutes(2)))
        func offlineStatusDoesNotRefresh() throws {
            let previous = try stack.setAccessTokenLifetime(4)
            defer { _ = try? stack.setAccessTokenLifetime(previous) }
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            try agent.start()
            #expect(try agent.cli(["token", agent.connection, "--interactive", "--min-valid", "1"]).status == 0)
            agent.stop()
            let stored = try stack.keyringSecret(connection: agent.connection)
            Thread.sleep(forTimeInterval: 5)   // the token is past its refresh time, even expired
            let before = try stack.stats()
            let out = try agent.cli(["status"])
            #expect(out.stdout.contains("agent: not running"))
            #expect(out.stdout.contains("expired"))
            Thread.sleep(forTimeInterval: 1)
            #expect(try stack.stats().delta(before, "token_calls.refresh_token") == 0)
            #expect(try stack.keyringSecret(connection: agent.connection) == stored)
        }

        @Test("tokens are bound to their servers: after the connection is edited to another gateway they are not sent there", .timeLimit(.minutes(2)))
        func tokensBoundToTheirServers() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            try agent.start()
            let token = try agent.cli(["token", agent.connection, "--interactive"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!token.isEmpty)
            agent.stop()
            let other = try StandIn.start(stack: stack, context: "")
            defer { other.stop() }
            let config = try String(contentsOfFile: agent.configFile, encoding: .utf8)
            try config.replacingOccurrences(of: "jira_url = \"\(stack.jiraURL)\"", with: "jira_url = \"\(other.baseURL)\"")
                .write(toFile: agent.configFile, atomically: true, encoding: .utf8)
            try agent.start()
            let out = try agent.cli(["token", agent.connection])
            #expect(out.status == 77, "\(out.stdout)\(out.stderr)")
            #expect((try agent.connectionStatus()["last_error"] as? String ?? "").contains("another server configuration"))
            // Through the proxy, non-interactively: the old token never reaches the new gateway.
            _ = try Run.capture(["curl", "-s", "-H", "Accept: application/json", try agent.proxyURL + "/jira/\(agent.connection)/rest/api/2/myself"], timeout: 5)
            #expect(try !other.tokenHashes().contains(sha256Hex(token)))
        }
    }
}
