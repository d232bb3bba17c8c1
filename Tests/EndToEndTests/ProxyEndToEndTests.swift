import Foundation
import Testing
import TestSupport

/// Real clients through the agent's proxy: `curl` and the Python `jira` library, against
/// the Jira stand-in behind the real authorization server's introspection.
extension EndToEnd {
    @Suite("Proxy end to end")
    struct ProxyEndToEnd {
        let stack = Stack.current!

        @Test("curl through the proxy: first call signs in, token added, refusals hold", .timeLimit(.minutes(2)))
        func curlThroughProxy() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            try agent.start()
            let base = try agent.proxyURL + "/jira/\(agent.connection)"
            let me = try Run.capture(["curl", "-sS", "--max-time", "60", "\(base)/rest/api/2/myself"])
            #expect(me.stdout.contains("\"name\": \"alice\""), "\(me.stdout)\(me.stderr)\n\(agent.log().suffix(2000))")
            #expect(me.stdout.contains("\"self\": \"\(base)/rest/api/2/user"), "self links point back at the proxy")
            // An inbound Authorization header is dropped, not forwarded.
            let forged = try Run.capture(["curl", "-sS", "-H", "Authorization: Bearer forged", "\(base)/rest/api/2/myself"])
            #expect(forged.stdout.contains("alice"))
            let port = URL(string: try agent.proxyURL)!.port!
            let evilHost = try Run.capture(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: evil.example:\(port)", "\(base)/rest/api/2/myself"])
            #expect(evilHost.stdout != "200" && evilHost.stdout.hasPrefix("4"), "\(evilHost.stdout)")
            let origin = try Run.capture(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Origin: https://evil.example", "\(base)/rest/api/2/myself"])
            #expect(origin.stdout == "403", "\(origin.stdout)")
            let site = try Run.capture(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Sec-Fetch-Site: cross-site", "\(base)/rest/api/2/myself"])
            #expect(site.stdout == "403", "\(site.stdout)")
            #expect(try agent.cli(["revoke", agent.connection]).status == 0)
        }

        @Test("no tokens and --no-wait-for-authorization: the proxy answers 401 JSON saying how to authorize", .timeLimit(.minutes(2)))
        func revokedGuidance() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            try agent.start(arguments: ["--no-wait-for-authorization"])
            let base = try agent.proxyURL + "/jira/\(agent.connection)"
            let out = try Run.capture(["curl", "-s", "-w", "\n%{http_code}", "\(base)/rest/api/2/myself"])
            #expect(out.stdout.hasSuffix("401"), "\(out.stdout)")
            #expect(out.stdout.contains("authorization_required"))
            #expect(out.stdout.contains("jira-auth-agent login \(agent.connection)"))
        }

        @Test("the Python jira library through the proxy: serverInfo, myself, get, update (follows self), create, search", .timeLimit(.minutes(2)))
        func pythonJiraThroughProxy() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            try agent.start()
            let base = try agent.proxyURL + "/jira/\(agent.connection)"
            let script = """
            import sys
            from jira import JIRA
            jira = JIRA(server=sys.argv[1], max_retries=0)
            assert jira.myself()["name"] == "alice"
            issue = jira.issue("DEMO-1")
            assert issue.self.startswith(sys.argv[1]), issue.self
            issue.update(summary="updated through the proxy")
            assert jira.issue("DEMO-1").fields.summary == "updated through the proxy"
            created = jira.create_issue(project="DEMO", summary="made through the proxy", issuetype={"name": "Task"})
            keys = [i.key for i in jira.search_issues("project = DEMO")]
            assert created.key in keys, keys
            print("OK", created.key)
            """
            let out = try Run.capture([stack.value("STACK_PYTHON"), "-c", script, base])
            #expect(out.status == 0, "\(out.stderr.suffix(3000))\n\(agent.log().suffix(2000))")
            #expect(out.stdout.hasPrefix("OK DEMO-"))
        }

        @Test("internal jira_url + gateway under a context path: API calls go to the gateway, links come back to the proxy", .timeLimit(.minutes(2)))
        func gatewayUnderContextPath() throws {
            let gateway = try StandIn.start(stack: stack, context: "/jira")
            defer { gateway.stop() }
            let agent = try AgentHarness(stack: stack, connectionTOML: AgentHarness.standardConnection(stack)
                .replacingOccurrences(of: "jira_url = \"\(stack.jiraURL)\"", with: "jira_url = \"https://jira.acme.internal\"\ngateway_url = \"\(gateway.baseURL)\""))
            defer { agent.cleanUp() }
            try agent.start()
            let base = try agent.proxyURL + "/jira/\(agent.connection)"
            let script = """
            import sys
            from jira import JIRA
            jira = JIRA(server=sys.argv[1], max_retries=0)
            assert jira.myself()["name"] == "alice"
            issue = jira.issue("DEMO-2")
            assert issue.self.startswith(sys.argv[1] + "/rest/api/2/issue/"), issue.self
            issue.update(summary="through the gateway")
            assert jira.issue("DEMO-2").fields.summary == "through the gateway"
            print("OK")
            """
            let out = try Run.capture([stack.value("STACK_PYTHON"), "-c", script, base])
            #expect(out.stdout.hasPrefix("OK"), "\(out.stderr.suffix(3000))\n\(agent.log().suffix(2000))")
            // The gateway saw the token; the stack's own Jira (another upstream) never did.
            let token = try agent.cli(["token", agent.connection]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let hash = sha256Hex(token)
            #expect(try gateway.tokenHashes().contains(hash))
            #expect(try !StandIn.tokenHashes(statsURL: stack.value("JIRA_STATS_URL")).contains(hash))
            // `open` uses the URL people browse, not the gateway.
            let open = try agent.cli(["open", "DEMO-2", "--connection", agent.connection, "--print"])
            #expect(open.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "https://jira.acme.internal/browse/DEMO-2")
        }

        @Test("the gateway refuses a token the agent holds: 401 invalid_token causes one refresh and a retry", .timeLimit(.minutes(2)))
        func upstreamRejectionRefreshesOnce() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            try agent.start()
            let base = try agent.proxyURL + "/jira/\(agent.connection)"
            let token = try agent.cli(["token", agent.connection, "--interactive"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            // The gateway stops accepting this token (as after a key rotation at the gateway);
            // the authorization server still considers the grant valid.
            let reject = stack.value("JIRA_STATS_URL").replacingOccurrences(of: "/test/stats", with: "/test/reject-token")
            #expect(try Run.capture(["curl", "-sf", "--data-binary", "@-", reject], stdin: token).status == 0)
            let before = try stack.stats()
            let out = try Run.capture(["curl", "-s", "-w", "\n%{http_code}", "\(base)/rest/api/2/myself"])
            #expect(out.stdout.hasSuffix("200"), "\(out.stdout)\n\(agent.log().suffix(2000))")
            #expect(out.stdout.contains("alice"))
            #expect(try stack.stats().delta(before, "token_calls.refresh_token") == 1)
            let now = try agent.cli(["token", agent.connection]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(now != token)
        }
    }
}
