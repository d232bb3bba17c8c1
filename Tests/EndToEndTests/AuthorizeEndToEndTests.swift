import Foundation
import Testing
import TestSupport

/// The first-time authorization paths against the real stack (issue 3): a client secret kept
/// in the keyring by `connections set-secret`.
extension EndToEnd {
    @Suite("Authorize end to end")
    struct AuthorizeEndToEnd {
        let stack = Stack.current!
        static let clientSecretSchema = "io.github.jira-auth-agent.ClientSecret"
        static let tokenSchema = "io.github.jira-auth-agent.Tokens"
        /// What makes the CLI believe it has a display.
        static let displayVariables = ["DISPLAY", "WAYLAND_DISPLAY", "BROWSER"]

        func connectionTOML(clientID: String, secretFile: String?, extra: String = "") -> String {
            """
            [[connection]]
            id = "{ID}"
            name = "E2E {ID}"
            jira_url = "\(stack.jiraURL)"
            authorization_url = "\(stack.value("AS_AUTHORIZE_URL"))"
            token_url = "\(stack.value("AS_TOKEN_URL"))"
            revocation_url = "\(stack.value("AS_REVOKE_URL"))"
            client_id = "\(clientID)"
            \(secretFile.map { "client_secret_file = \"\($0)\"" } ?? "")
            scope = "read write"
            default = true
            \(extra)
            """
        }

        func secretTool(_ arguments: [String]) throws -> String {
            let out = try Run.capture(["secret-tool"] + arguments)
            return out.stdout + out.stderr
        }

        /// The stored token set's account, as `status --json` reports it.
        func account(_ agent: AgentHarness) throws -> String? {
            try agent.connectionStatus()["account"] as? String
        }

        var python: String {
            let configured = stack.value("STACK_PYTHON")
            return configured.isEmpty ? Stack.root.appendingPathComponent(".venv/bin/python").path : configured
        }

        // MARK: Client secret in the keyring

        @Test("set-secret keeps the client secret in the keyring; logins use it; delete-secret removes it", .timeLimit(.minutes(3)))
        func clientSecretFromTheKeyring() throws {
            let secret = try String(contentsOfFile: stack.value("CLIENT_SECRET_FILE"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let agent = try AgentHarness(stack: stack, prefix: "e2e-secret",
                                         connectionTOML: connectionTOML(clientID: stack.value("CLIENT_ID"), secretFile: nil))
            defer { agent.cleanUp() }
            let id = agent.connection
            var outputs: [Run.Output] = []
            let search = ["search", "--all", "xdg:schema", Self.clientSecretSchema, "connection", id]

            // No secret anywhere: refused before any browser opens, naming both fixes.
            let missing = try agent.cli(["login", id])
            outputs.append(missing)
            #expect(missing.status == 78, "\(missing.stderr)")
            #expect(missing.stderr.contains("client_secret_file") && missing.stderr.contains("jira-auth-agent connections set-secret \(id)"), "\(missing.stderr)")

            // Refusals: an empty line, an unknown connection. Nothing stored.
            let empty = try agent.cli(["connections", "set-secret", id], stdin: "\n")
            outputs.append(empty)
            #expect(empty.status == 64, "\(empty.stderr)")
            #expect(empty.stderr.contains("empty"))
            #expect(!(try secretTool(search)).contains("attribute.connection"))
            let unknown = try agent.cli(["connections", "set-secret", "no-such-\(id)"], stdin: secret + "\n")
            outputs.append(unknown)
            #expect(unknown.status == 78)
            #expect(unknown.stderr.contains("Known connections: \(id)"))

            let set = try agent.cli(["connections", "set-secret", id], stdin: secret + "\n")
            outputs.append(set)
            #expect(set.status == 0, "\(set.stderr)")
            #expect(set.stdout.contains("Stored the client secret of '\(id)'"))
            // The item as another Secret Service client sees it: its own schema, the
            // documented attribute and label, the secret intact.
            let found = try secretTool(search)
            #expect(found.contains("attribute.connection = \(id)"), "\(found)")
            #expect(found.contains("label = Jira client secret — \(id)"), "\(found)")
            #expect(!found.contains("attribute.jira_url"))
            let lookup = try Run.capture(["secret-tool", "lookup", "xdg:schema", Self.clientSecretSchema, "connection", id])
            #expect(lookup.stdout == secret)

            // The CLI's own login (no agent): the code exchange authenticates with it.
            let login = try agent.cli(["login", id])
            outputs.append(login)
            #expect(login.status == 0, "\(login.stderr)")
            #expect(try account(agent) == "alice")
            let tokens = try secretTool(["search", "--all", "xdg:schema", Self.tokenSchema, "connection", id])
            #expect(tokens.contains("attribute.account = alice"), "\(tokens)")

            // The daemon too: revocation (client-authenticated) and a fresh browser login.
            try agent.start()
            let revoke = try agent.cli(["revoke", id, "--json"])
            outputs.append(revoke)
            #expect(revoke.status == 0, "\(revoke.stderr)")
            #expect(revoke.stdout.contains("\"refresh_token\""), "\(revoke.stdout)")
            let token = try agent.cli(["token", id, "--interactive"])
            #expect(token.status == 0, "\(token.stderr)\n\(agent.log().suffix(2000))")
            var tokenOutput = token
            tokenOutput.stdout = ""  // the access token itself is meant to be printed
            outputs.append(tokenOutput)
            #expect(try stack.isActive(token.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
            agent.stop()

            let delete = try agent.cli(["connections", "delete-secret", id])
            outputs.append(delete)
            #expect(delete.status == 0)
            #expect(delete.stdout.contains("Deleted the client secret of '\(id)'"))
            #expect(!(try secretTool(search)).contains("attribute.connection"))
            // The token item is untouched by delete-secret.
            #expect(try secretTool(["search", "--all", "xdg:schema", Self.tokenSchema, "connection", id]).contains("attribute.connection = \(id)"))
            let again = try agent.cli(["connections", "delete-secret", id])
            outputs.append(again)
            #expect(again.stdout.contains("No client secret of '\(id)'"))

            // Never echoed, never logged.
            for out in outputs {
                #expect(!out.stdout.contains(secret) && !out.stderr.contains(secret), "the secret leaked into \(out)")
            }
            #expect(!agent.log().contains(secret))
        }
    }
}
