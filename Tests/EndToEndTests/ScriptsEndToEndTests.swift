import Foundation
import Testing
import TestSupport

extension EndToEnd {
    /// What scripts rely on (issue 16 item 3): `status` exit codes, and a token passed on
    /// standard input (`token --auth-header | curl -H @-`) instead of on a command line.
    @Suite("Scripts end to end")
    struct ScriptsEndToEnd {
        let stack = Stack.current!

        @Test("status exits 77 before the sign-in and 0 after, per connection; token --auth-header and --json feed curl and jq-like tools",
              .timeLimit(.minutes(2)))
        func statusAndTokenForScripts() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            try agent.start()
            let before = try agent.cli(["status"])
            #expect(before.status == 77, "the default connection needs a sign-in: \(before.stdout) \(before.stderr)")
            #expect(try agent.cli(["status", agent.connection, "--json"]).status == 77)
            let unknown = try agent.cli(["status", "no-such-connection"])
            #expect(unknown.status == 78 && unknown.stderr.contains("no-such-connection"), "\(unknown.stderr)")

            // --auth-header with --interactive: the full CLI signs in and prints the header line.
            let header = try agent.cli(["token", agent.connection, "--interactive", "--auth-header"])
            #expect(header.status == 0, "\(header.stderr)")
            #expect(header.stdout.hasPrefix("Authorization: Bearer ") && header.stdout.hasSuffix("\n"))
            // Without --interactive the front answers from memory: the same line.
            let fast = try agent.cli(["token", agent.connection, "--auth-header"])
            #expect(fast.stdout == header.stdout)
            let token = String(header.stdout.dropFirst("Authorization: Bearer ".count).dropLast())

            let after = try agent.cli(["status", agent.connection])
            #expect(after.status == 0, "\(after.stdout)")
            #expect(after.stdout.contains(agent.connection) && after.stdout.contains("authorized"))
            #expect(try agent.cli(["status"]).status == 0, "the default connection now holds a grant")

            // The header on curl's standard input, straight to the gateway.
            let curl = try Run.capture(["curl", "-sf", "-H", "@-", stack.jiraURL + "/rest/api/2/myself"], stdin: header.stdout)
            #expect(curl.status == 0 && curl.stdout.contains("alice"), "\(curl.stderr)")

            let json = try agent.cli(["token", agent.connection, "--json"])
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect(object["access_token"] as? String == token)
            #expect(object["token_type"] as? String == "Bearer")
            #expect(object["connection"] as? String == agent.connection)
            let expiresAt = try #require((object["expires_at"] as? NSNumber)?.doubleValue)
            #expect(expiresAt > Date().timeIntervalSince1970, "expires in the future")
            let both = try agent.cli(["token", "--json", "--auth-header"])
            #expect(both.status == 64 && both.stderr.contains("exclude"), "\(both.stderr)")

            // Revoked: status says so with 77 again.
            #expect(try agent.cli(["revoke", agent.connection]).status == 0)
            #expect(try agent.cli(["status", agent.connection]).status == 77)
        }
    }
}
