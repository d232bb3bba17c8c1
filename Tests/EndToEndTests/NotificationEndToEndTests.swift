import Foundation
import Testing
import TestSupport

extension EndToEnd {
    /// Notifications in process (issue 16 item 4), against a notification service on the
    /// test's session bus (tests/stack/notification_service.py): "sign in needed" with a
    /// Sign in button that starts the sign-in, replaced rather than stacked.
    @Suite("Notifications end to end")
    struct Notifications {
        let stack = Stack.current!

        /// The service's log, one JSON object per Notify.
        func notices(_ log: String) -> [[String: Any]] {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }

        func waitFor(_ count: Int, in log: String, agent: AgentHarness) throws -> [[String: Any]] {
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let list = notices(log)
                if list.count >= count { return list }
                Thread.sleep(forTimeInterval: 0.1)
            }
            throw HarnessError("no notification \(count) within 30 s; log:\n\(agent.log().suffix(2000))")
        }

        /// The grant dies at the server: the refresh is refused, the session needs a sign-in.
        func killTheGrant(_ agent: AgentHarness) throws {
            _ = try Run.capture(["curl", "-sf", "-X", "POST", "\(stack.asURL)/test/revoke-refresh-tokens"])
            let token = try agent.cli(["token", agent.connection]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let reject = stack.value("JIRA_STATS_URL").replacingOccurrences(of: "/test/stats", with: "/test/reject-token")
            _ = try Run.capture(["curl", "-sf", "--data-binary", "@-", reject], stdin: token)
            _ = try Run.capture(["curl", "-s", "--max-time", "30", try agent.proxyURL + "/jira/\(agent.connection)/rest/api/2/myself"])
        }

        @Test("sign-in needed: one notification with a Sign in button that signs in; the next replaces it", .timeLimit(.minutes(3)))
        func signInFromTheNotification() throws {
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("notifications-\(UUID().uuidString).jsonl").path
            let service = Process()
            service.executableURL = URL(fileURLWithPath: stack.value("STACK_PYTHON"))
            service.arguments = [Stack.root.appendingPathComponent("tests/stack/notification_service.py").path, log]
            let ready = Pipe()
            service.standardOutput = ready
            service.standardError = FileHandle.nullDevice   // never holds the test runner's pipes
            try service.run()
            // SIGKILL: a SIGTERM from this runner was seen to leave it running.
            defer { kill(service.processIdentifier, SIGKILL); try? FileManager.default.removeItem(atPath: log) }
            #expect(String(decoding: ready.fileHandleForReading.availableData, as: UTF8.self).hasPrefix("ready"))

            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            // The proxy answers 401 instead of starting a sign-in itself: only the button may.
            try agent.start(arguments: ["--no-wait-for-authorization"])
            #expect(try agent.cli(["token", agent.connection, "--interactive"]).status == 0)
            let before = try stack.stats()
            try killTheGrant(agent)
            let first = try #require(try waitFor(1, in: log, agent: agent).first)
            #expect(try agent.connectionStatus()["state"] as? String != "authorized", "nothing signed in before the click")
            #expect(first["app"] as? String == "jira-auth-agent")
            #expect((first["summary"] as? String ?? "").contains("expired"), "\(first)")
            #expect(first["actions"] as? [String] == ["default", "Sign in", "sign-in", "Sign in"], "\(first)")
            let id = try #require(first["id"] as? Int)

            // The user clicks Sign in: the agent opens the browser (the stack's headless one).
            let click = try Run.capture(["gdbus", "call", "--session", "--dest", "org.freedesktop.Notifications",
                                         "--object-path", "/org/freedesktop/Notifications",
                                         "--method", "org.jira_auth_agent.Test.Invoke", "\(id)", "sign-in"])
            #expect(click.status == 0, "\(click.stderr)")
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline, try agent.connectionStatus()["state"] as? String != "authorized" { Thread.sleep(forTimeInterval: 0.2) }
            #expect(try agent.connectionStatus()["state"] as? String == "authorized", "\(agent.log().suffix(2000))")
            #expect(try stack.stats().delta(before, "token_calls.authorization_code") == 1, "the button started one sign-in")

            // The grant dies again: the new notice replaces the first, it does not stack. The
            // rules allow one refresh per 10 s, so callers keep asking until it is tried.
            try killTheGrant(agent)
            let until = Date().addingTimeInterval(45)
            while notices(log).count < 2, Date() < until {
                _ = try Run.capture(["curl", "-s", "--max-time", "5", try agent.proxyURL + "/jira/\(agent.connection)/rest/api/2/myself"])
                Thread.sleep(forTimeInterval: 0.5)
            }
            let list = try waitFor(2, in: log, agent: agent)
            #expect(list[1]["replaces_id"] as? Int == id && list[1]["id"] as? Int == id, "\(list)")
            #expect(list.count == 2, "one notice per event")
        }
    }
}
