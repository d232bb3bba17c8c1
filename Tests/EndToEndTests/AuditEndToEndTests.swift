import Foundation
import Testing
import TestSupport

extension EndToEnd {
    /// Who got a raw token (issue 17 item 4), with the real agent, its CLI, a shell script and
    /// curl: the audit names each program, and `token_executables` refuses the others while
    /// the proxy keeps working for them.
    @Suite("Token audit end to end")
    struct AuditEndToEnd {
        let stack = Stack.current!

        static var curl: String { URL(fileURLWithPath: "/usr/bin/curl").resolvingSymlinksInPath().path }
        /// As /proc names it: /usr/bin/bash with a merged /usr, /bin/bash without.
        static var bash: String { URL(fileURLWithPath: "/bin/bash").resolvingSymlinksInPath().path }

        @Test("audit names the script that ran `token` and curl on the socket; token_executables refuses the script, not the proxy",
              .timeLimit(.minutes(3)))
        func auditAndAllowlist() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            try agent.start()
            #expect(try agent.cli(["token", agent.connection, "--interactive"]).status == 0)
            // A script: `$(…)` runs the CLI in a subshell, so the CLI's parent is a bash.
            let script = #"t=$("$JAA" token "$CONN") && test -n "$t" && echo ok"#
            let scriptEnv = agent.environment.merging(["JAA": Stack.binary, "CONN": agent.connection]) { $1 }
            let viaScript = try Run.capture(["/bin/bash", "-c", script], env: scriptEnv)
            #expect(viaScript.stdout == "ok\n", "\(viaScript.stderr)")
            let direct = try Run.capture([Self.curl, "-sf", "--unix-socket", agent.socket, "-X", "POST",
                                          "http://localhost/v1/connections/\(agent.connection)/token"])
            #expect(direct.status == 0 && direct.stdout.contains("access_token"))

            let audit = try agent.cli(["audit", agent.connection, "--json"])
            #expect(audit.status == 0, "\(audit.stderr)")
            let body = try #require(try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [String: Any])
            let recipients = body["recipients"] as? [[String: Any]] ?? []
            let programs = Set(recipients.compactMap { $0["executable"] as? String })
            #expect(programs.contains(Self.bash), "\(programs)")
            #expect(programs.contains(Self.curl), "\(programs)")
            #expect(!programs.contains { $0.hasSuffix("/jira-auth-agent") || $0.hasSuffix("/jira-auth-agent-full") },
                    "requests through the CLI count for the program that ran it: \(programs)")
            let releases = body["releases"] as? [[String: Any]] ?? []
            let fromBash = releases.first { ($0["requester"] as? [String: Any])?["executable"] as? String == Self.bash }
            #expect((fromBash?["requester"] as? [String: Any])?["via"] as? String == "jira-auth-agent")
            #expect(!audit.stdout.contains(try agent.cli(["token", agent.connection]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)),
                    "no token in the audit")
            let text = try agent.cli(["audit"]).stdout
            #expect(text.contains(Self.curl) && text.contains("\(Self.bash) (via jira-auth-agent token)"), "\(text)")
            let status = try agent.status()
            #expect((status["token_recipients"] as? [[String: Any]])?.isEmpty == false)
            #expect(try agent.cli(["status"]).stdout.contains("raw tokens:"))

            // Only curl may get raw tokens now; SIGHUP rereads the catalog.
            let config = try String(contentsOfFile: agent.configFile, encoding: .utf8)
            try config.replacingOccurrences(of: "default = true", with: "default = true\ntoken_executables = [\"\(Self.curl)\"]")
                .write(toFile: agent.configFile, atomically: true, encoding: .utf8)
            kill(agent.process!.processIdentifier, SIGHUP)
            var refused = viaScript
            for _ in 0..<100 {
                refused = try Run.capture(["/bin/bash", "-c", script], env: scriptEnv)
                if refused.status != 0 { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            #expect(refused.status == 77, "\(refused.stdout) \(refused.stderr)")
            #expect(refused.stderr.contains("token_executables") && refused.stderr.contains(Self.bash), "\(refused.stderr)")
            let stillCurl = try Run.capture([Self.curl, "-sf", "--unix-socket", agent.socket, "-X", "POST",
                                             "http://localhost/v1/connections/\(agent.connection)/token"])
            #expect(stillCurl.status == 0, "the listed program still gets its token")
            let proxied = try Run.capture(["curl", "-sf", try agent.proxyURL + "/jira/\(agent.connection)/rest/api/2/myself"])
            #expect(proxied.status == 0 && proxied.stdout.contains("alice"), "the proxy serves every program: \(proxied.stderr)")
            let after = try agent.cli(["audit", agent.connection, "--json"]).stdout
            let recipientsAfter = (try JSONSerialization.jsonObject(with: Data(after.utf8)) as? [String: Any])?["recipients"] as? [[String: Any]] ?? []
            let bashAfter = recipientsAfter.first { $0["executable"] as? String == Self.bash }
            #expect(bashAfter?["refused"] as? Int == 1, "one refused request, recorded once (the front does not ask again): \(after)")
        }
    }
}
