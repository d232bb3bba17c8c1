import Foundation
import Testing
import TestSupport

extension EndToEnd {
    /// `connections test` (issue 16 item 1), the admin's "Connect" step, against the stack:
    /// a working connection, and one broken in each way an admin gets it wrong.
    @Suite("Connections self-test end to end")
    struct ConnectionsSelfTest {
        let stack = Stack.current!

        /// A `[[connection]]` table.
        func candidate(_ id: String, _ body: String) -> String {
            "[[connection]]\nid = \"\(id)\"\n\(body)\n"
        }

        /// The check lines under the section `id — name`.
        func lines(_ output: String, of id: String) -> [String] {
            var current: String?
            var result: [String] = []
            for line in output.split(separator: "\n") {
                if line.hasPrefix("  ") {
                    if current == id { result.append(line.trimmingCharacters(in: .whitespaces)) }
                } else {
                    current = line.split(separator: " ").first.map(String.init)
                }
            }
            return result
        }

        @Test("a working connection passes every check; each broken one fails the check that names its fault", .timeLimit(.minutes(2)))
        func candidateCatalog() throws {
            let agent = try AgentHarness(stack: stack)
            defer { agent.cleanUp() }
            let wrongSecret = agent.directory.appendingPathComponent("wrong.secret").path
            try "wrong+/=secret".write(toFile: wrongSecret, atomically: true, encoding: .utf8)
            chmod(wrongSecret, 0o600)
            let closedPort = try StandIn.freePort()   // nothing listens there
            let explicit = """
                authorization_url = "\(stack.value("AS_AUTHORIZE_URL"))"
                revocation_url = "\(stack.value("AS_REVOKE_URL"))"
                client_id = "\(stack.value("CLIENT_ID"))"
                """
            let tables: [String] = [candidate("good", """
                jira_url = "\(stack.jiraURL)"
                token_url = "\(stack.value("AS_TOKEN_URL"))"
                client_secret_file = "\(stack.value("CLIENT_SECRET_FILE"))"
                \(explicit)
                """),
                candidate("secret", """
                jira_url = "\(stack.jiraURL)"
                token_url = "\(stack.value("AS_TOKEN_URL"))"
                client_secret_file = "\(wrongSecret)"
                \(explicit)
                """),
                candidate("issuer", """
                jira_url = "\(stack.jiraURL)"
                issuer = "\(stack.value("AS_ISSUER"))x"
                client_id = "\(stack.value("CLIENT_ID"))"
                client_secret_file = "\(stack.value("CLIENT_SECRET_FILE"))"
                """),
                candidate("down", """
                jira_url = "\(stack.jiraURL)"
                token_url = "http://127.0.0.1:\(closedPort)/o/token/"
                client_secret_file = "\(stack.value("CLIENT_SECRET_FILE"))"
                \(explicit)
                """),
                candidate("nogateway", """
                jira_url = "\(stack.value("JIRA_DIRECT_URL"))"
                token_url = "\(stack.value("AS_TOKEN_URL"))"
                client_secret_file = "\(stack.value("CLIENT_SECRET_FILE"))"
                \(explicit)
                """),
                candidate("typo", "jira_url = \"\(stack.jiraURL)\"\nclient_id = \"x\""),
            ]
            let toml = tables.joined(separator: "\n")
            let file = agent.directory.appendingPathComponent("candidate.toml").path
            try toml.write(toFile: file, atomically: true, encoding: .utf8)

            let out = try agent.cli(["connections", "test", "--config", file])
            #expect(out.status == 1, "a failed check fails the command: \(out.stdout) \(out.stderr)")
            let good = lines(out.stdout, of: "good")
            #expect(good.count >= 8 && !good.contains { $0.hasPrefix("✗") }, "\(good)")
            #expect(good.contains { $0.hasPrefix("✓ client authentication: client_auth = basic accepted") }, "\(good)")
            #expect(good.contains { $0.hasPrefix("✓ API gateway with an invalid token") || $0.hasPrefix("✓ Jira with an invalid token") }, "\(good)")
            #expect(good.contains { $0.hasPrefix("✓ reachable: revocation endpoint") })

            let secret = lines(out.stdout, of: "secret")
            #expect(secret.contains { $0.hasPrefix("✗ client authentication: invalid_client") && $0.contains("client_auth = \"post\"") }, "\(secret)")
            #expect(!out.stdout.contains("wrong+/=secret") && !out.stderr.contains("wrong+/=secret"), "no secret in the output")

            let issuer = lines(out.stdout, of: "issuer")
            #expect(issuer.contains { $0.hasPrefix("✗ discovery:") && $0.contains("names the issuer '\(stack.value("AS_ISSUER"))'") }, "\(issuer)")
            #expect(issuer.contains { $0.hasPrefix("– client authentication") })

            let down = lines(out.stdout, of: "down")
            #expect(down.contains { $0.hasPrefix("✗ reachable: token endpoint: http://127.0.0.1:\(closedPort)") }, "\(down)")

            // The stand-in without the gateway in front: it refuses, but not as a gateway
            // does (no invalid_token), which the proxy's retry depends on.
            let direct = lines(out.stdout, of: "nogateway")
            #expect(direct.contains { $0.hasPrefix("! Jira with an invalid token: 401 without WWW-Authenticate") }, "\(direct)")

            #expect(out.stdout.contains("✗") && out.stdout.contains("typo") && out.stdout.contains("token_url"),
                    "the broken entry is reported, not skipped: \(out.stdout)")

            // The account check goes through a running agent that holds a grant.
            try agent.start()
            #expect(try agent.cli(["token", agent.connection, "--interactive"]).status == 0)
            let installed = try agent.cli(["connections", "test", agent.connection])
            #expect(installed.status == 0, "\(installed.stdout) \(installed.stderr)")
            #expect(installed.stdout.contains("✓ account through the proxy: signed in as alice"), "\(installed.stdout)")
            let unknown = try agent.cli(["connections", "test", "nope"])
            #expect(unknown.status == 78, "\(unknown.stderr)")
        }
    }
}
