import Foundation
import Testing
import TestSupport

/// The first-time authorization paths against the real stack (issue 3): a client secret kept
/// in the keyring by `connections set-secret`, the device grant and paste-back without a
/// display, and a client registered with one exact redirect port.
extension EndToEnd {
    @Suite("Authorize end to end")
    struct AuthorizeEndToEnd {
        let stack = Stack.current!
        static let clientSecretSchema = "io.github.jira-auth-agent.ClientSecret"
        static let tokenSchema = "io.github.jira-auth-agent.Tokens"
        /// What makes the CLI believe it has a display.
        static let displayVariables = ["DISPLAY", "WAYLAND_DISPLAY", "BROWSER"]

        func connectionTOML(clientID: String, secretFile: String?, extra: String = "") -> String {
            AgentHarness.standardConnection(stack, clientID: clientID, secretFile: .some(secretFile), extra: extra)
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

        // MARK: No display

        @Test("no display: the device grant ends with tokens in the keyring", .timeLimit(.minutes(2)))
        func deviceGrant() throws {
            let extra = "client_auth = \"none\"\ndevice_authorization_url = \"\(stack.value("AS_DEVICE_URL"))\""
            let agent = try AgentHarness(stack: stack, prefix: "e2e-device",
                                         connectionTOML: connectionTOML(clientID: stack.value("DEVICE_CLIENT_ID"), secretFile: nil, extra: extra))
            defer { agent.cleanUp() }
            let before = try stack.stats()
            let login = try RunningProcess([Stack.binary, "login", agent.connection, "--no-browser"],
                                           env: agent.environment, removing: Self.displayVariables)
            let url = login.waitFor(timeout: 30) { _, stderr in
                stderr.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                    .first { $0.hasPrefix("http") && $0.contains("user_code=") }
            }
            guard let url else {
                let out = login.finish(timeout: 1)
                Issue.record("no verification URL: \(out.stderr)")
                return
            }
            #expect(login.stderr.contains("confirm the code"))
            let browser = try Run.capture([Stack.root.appendingPathComponent("tests/stack/browser").path, url],
                                          env: ["BROWSER_MODE": "device"])
            #expect(browser.status == 0)
            let out = login.wait(timeout: 60)
            #expect(out.status == 0, "\(out.stderr)")
            #expect(out.stdout.contains("Authorized '\(agent.connection)' as alice"), "\(out.stdout)")
            #expect(try stack.stats().delta(before, "token_calls.device_code") >= 1)
            let item = try secretTool(["search", "--all", "xdg:schema", Self.tokenSchema, "connection", agent.connection])
            #expect(item.contains("attribute.account = alice"), "\(item)")
            #expect(try account(agent) == "alice")
        }

        @Test("no display, no device grant: paste-back; a wrong state is refused and the CLI keeps waiting", .timeLimit(.minutes(2)))
        func pasteBack() throws {
            let agent = try AgentHarness(stack: stack, prefix: "e2e-paste")
            defer { agent.cleanUp() }
            let before = try stack.stats()
            let login = try RunningProcess([Stack.binary, "login", agent.connection, "--no-browser"],
                                           env: agent.environment, removing: Self.displayVariables)
            let url = login.waitFor(timeout: 30) { _, stderr in
                stderr.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                    .first { $0.hasPrefix(stack.value("AS_AUTHORIZE_URL")) }
            }
            guard let url else {
                let out = login.finish(timeout: 1)
                Issue.record("no authorization URL: \(out.stderr)")
                return
            }
            let browser = try Run.capture([python, Stack.root.appendingPathComponent("tests/stack/paste_back.py").path, url])
            let landed = browser.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(browser.status == 0, "\(browser.stderr)")
            guard let components = URLComponents(string: landed),
                  let state = components.queryItems?.first(where: { $0.name == "state" })?.value,
                  let code = components.queryItems?.first(where: { $0.name == "code" })?.value else {
                Issue.record("paste_back.py printed no redirect URL: \(landed)")
                _ = login.finish(timeout: 1)
                return
            }
            #expect(components.host == "127.0.0.1")

            // A URL from another sign-in (wrong state): refused with a message, still waiting.
            login.send(landed.replacingOccurrences(of: "state=\(state)", with: "state=forged-\(state.prefix(4))") + "\n")
            let refused = login.waitFor(timeout: 10) { _, stderr in stderr.contains("does not belong to this sign-in") ? true : nil }
            #expect(refused == true, "\(login.stderr)")
            #expect(login.process.isRunning)
            // The right state on another address (not this login's redirect URI): refused too.
            let before2 = login.stderr.components(separatedBy: "does not belong").count
            login.send(landed.replacingOccurrences(of: "127.0.0.1", with: "evil.example") + "\n")
            let refusedHost = login.waitFor(timeout: 10) { _, stderr in stderr.components(separatedBy: "does not belong").count > before2 ? true : nil }
            #expect(refusedHost == true, "\(login.stderr)")
            #expect(login.process.isRunning)
            #expect(try stack.stats().delta(before, "token_calls.authorization_code") == 0)

            login.send(landed + "\n")
            let out = login.wait(timeout: 60)
            #expect(out.status == 0, "\(out.stderr)")
            #expect(out.stdout.contains("as alice"))
            #expect(try stack.stats().delta(before, "token_calls.authorization_code") == 1)
            #expect(!(out.stdout + out.stderr).contains(code), "the code is not echoed")
            #expect(try secretTool(["search", "--all", "xdg:schema", Self.tokenSchema, "connection", agent.connection]).contains("attribute.account = alice"))
            #expect(try account(agent) == "alice")
        }

        // MARK: Exact redirect port

        @Test("a client with one exact redirect port: a clear error while the port is taken, then the login works", .timeLimit(.minutes(2)))
        func fixedRedirectPort() throws {
            let port = Int(stack.value("FIXED_REDIRECT_PORT")) ?? 47931
            let agent = try AgentHarness(stack: stack, prefix: "e2e-fixed", connectionTOML: connectionTOML(
                clientID: stack.value("FIXED_CLIENT_ID"), secretFile: stack.value("FIXED_CLIENT_SECRET_FILE"),
                extra: "redirect_ports = [\(port)]"))
            defer { agent.cleanUp() }
            try agent.start()
            do {
                let holder = try ListeningSocket(port: port)
                defer { holder.close() }
                let token = try agent.cli(["token", agent.connection, "--interactive"])
                #expect(token.status == 77, "\(token.stderr)")
                #expect(token.stderr.contains("port \(port) on 127.0.0.1 is in use"), "\(token.stderr)")
                #expect(token.stderr.contains("redirect_ports"))
                // The CLI's own listener (no agent involved) says the same.
                let login = try agent.cli(["login", agent.connection], env: ["JIRA_AUTH_AGENT_RUNTIME_DIR": agent.directory.appendingPathComponent("none").path])
                #expect(login.status == 77, "\(login.stderr)")
                #expect(login.stderr.contains("port \(port) on 127.0.0.1 is in use"), "\(login.stderr)")
            }
            let before = try stack.stats()
            let token = try agent.cli(["token", agent.connection, "--interactive"])
            #expect(token.status == 0, "\(token.stderr)\n\(agent.log().suffix(2000))")
            #expect(try stack.stats().delta(before, "token_calls.authorization_code") == 1)
            // The stack's validator refuses this client any other port: success means the listener used it.
            #expect(try account(agent) == "alice")
        }
    }
}

/// A TCP socket listening on 127.0.0.1:`port`, as another program holding it would.
private struct ListeningSocket {
    let fd: Int32

    init(port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var one: Int32 = 1  // TIME_WAIT leftovers of earlier logins must not stop the bind
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 && listen(fd, 4) == 0
            }
        }
        guard bound else { Glibc.close(fd); throw HarnessError("cannot hold port \(port): errno \(errno)") }
        self.fd = fd
    }

    func close() { _ = Glibc.close(fd) }
}
