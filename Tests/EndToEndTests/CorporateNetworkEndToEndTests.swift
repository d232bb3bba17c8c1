import Foundation
import Testing
import TestSupport

extension EndToEnd {
    /// A corporate desktop (issue 16 item 2): the gateway over TLS wants a client
    /// certificate and an API key field, and https leaves the host only through an HTTP
    /// proxy with a password (tinyproxy). All real: Apache mod_ssl + mod_oauth2, tinyproxy.
    @Suite("Corporate network end to end")
    struct CorporateNetwork {
        let stack = Stack.current!

        /// CONNECT lines for `port` in tinyproxy's log.
        func connects(to port: String) throws -> Int {
            let log = try String(contentsOfFile: stack.value("FORWARD_PROXY_LOG"), encoding: .utf8)
            return log.components(separatedBy: "CONNECT 127.0.0.1:\(port) ").count - 1
        }

        func proxyURL(password: String) -> String {
            let proxy = URLComponents(string: stack.value("FORWARD_PROXY_URL"))!
            return "http://\(stack.value("FORWARD_PROXY_USER")):\(password)@\(proxy.host!):\(proxy.port!)"
        }

        /// A connection to the mTLS gateway: CA bundle, client certificate, API key file.
        func agent(keyFile: String? = nil) throws -> AgentHarness {
            var headers = keyFile
            if headers == nil {
                let path = FileManager.default.temporaryDirectory.appendingPathComponent("jaa-headers-\(UUID().uuidString)").path
                let key = try String(contentsOfFile: stack.value("STACK_GATEWAY_KEY_FILE"), encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                _ = FileManager.default.createFile(atPath: path, contents: Data("# the gateway's API key\nX-Gateway-Key: \(key)\n".utf8),
                                               attributes: [.posixPermissions: 0o600])
                headers = path
            }
            return try AgentHarness(stack: stack, connectionTOML: AgentHarness.standardConnection(stack, extra: """
                ca_bundle = "\(stack.value("STACK_CA_FILE"))"
                tls_client_certificate = "\(stack.value("STACK_CLIENT_CERT_FILE"))"
                tls_client_key = "\(stack.value("STACK_CLIENT_KEY_FILE"))"
                extra_headers_file = "\(headers!)"
                """).replacingOccurrences(of: "jira_url = \"\(stack.jiraURL)\"", with: "jira_url = \"\(stack.value("GATEWAY_MTLS_URL"))\""))
        }

        @Test("mTLS + API key through an authenticating HTTPS proxy: sign-in, account, proxy calls; NO_PROXY bypasses it",
              .timeLimit(.minutes(2)))
        func throughTheProxy() throws {
            let password = try String(contentsOfFile: stack.value("FORWARD_PROXY_PASSWORD_FILE"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let gatewayPort = String(URLComponents(string: stack.value("GATEWAY_MTLS_URL"))!.port!)
            let agent = try agent()
            defer { agent.cleanUp() }
            agent.extraEnv["HTTPS_PROXY"] = proxyURL(password: password)
            agent.extraEnv["NO_PROXY"] = "jira.example.invalid"
            try agent.start()
            let before = try connects(to: gatewayPort)
            let signIn = try agent.cli(["token", agent.connection, "--interactive"])
            #expect(signIn.status == 0, "\(signIn.stderr)\n\(agent.log().suffix(2000))")
            #expect(try agent.connectionStatus()["account"] as? String == "alice", "the account lookup went through proxy, mTLS and key")
            let myself = try Run.capture(["curl", "-s", "-w", "\n%{http_code}", try agent.proxyURL + "/jira/\(agent.connection)/rest/api/2/myself"])
            #expect(myself.stdout.hasSuffix("200") && myself.stdout.contains("alice"), "\(myself.stdout)\n\(agent.log().suffix(2000))")
            #expect(try connects(to: gatewayPort) >= before + 2, "both went through the proxy's CONNECT")
            #expect(!agent.log().contains(password), "the proxy password is never logged")
            let key = try String(contentsOfFile: stack.value("STACK_GATEWAY_KEY_FILE"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!agent.log().contains(key), "the API key is never logged")

            // NO_PROXY naming the host: straight to the gateway, no new CONNECT.
            agent.stop()
            agent.extraEnv["NO_PROXY"] = "localhost, 127.0.0.1"
            try agent.start()
            let direct = try connects(to: gatewayPort)
            let again = try Run.capture(["curl", "-s", "-w", "\n%{http_code}", try agent.proxyURL + "/jira/\(agent.connection)/rest/api/2/myself"])
            #expect(again.stdout.hasSuffix("200"), "\(again.stdout)")
            #expect(try connects(to: gatewayPort) == direct)
        }

        @Test("a wrong proxy password, a missing key file entry, an unusable HTTPS_PROXY: each says what is wrong", .timeLimit(.minutes(2)))
        func faults() throws {
            let agent = try agent()
            defer { agent.cleanUp() }
            agent.extraEnv["HTTPS_PROXY"] = proxyURL(password: "not-the-password")
            try agent.start()
            let refused = try agent.cli(["connections", "test", agent.connection])
            #expect(refused.status == 1)
            #expect(refused.stdout.contains("the proxy refused the tunnel") && refused.stdout.contains("HTTP 40"), "\(refused.stdout)")
            #expect(!refused.stdout.contains("not-the-password") && !agent.log().contains("not-the-password"))
            agent.stop()

            // Without the key field the gateway refuses every request with 403.
            let empty = FileManager.default.temporaryDirectory.appendingPathComponent("jaa-empty-\(UUID().uuidString)").path
            _ = FileManager.default.createFile(atPath: empty, contents: Data("# no key\n".utf8), attributes: [.posixPermissions: 0o600])
            let keyless = try self.agent(keyFile: empty)
            defer { keyless.cleanUp() }
            keyless.extraEnv["HTTPS_PROXY"] = ""
            try keyless.start()
            let test = try keyless.cli(["connections", "test", keyless.connection])
            #expect(test.status == 1 && test.stdout.contains("✗ Jira without a token: HTTP 403 before any token check"), "\(test.stdout)")

            // A key file others can read is a configuration problem that names the fix.
            chmod(empty, 0o644)
            let listed = try keyless.cli(["connections", "list"])
            #expect(listed.stdout.contains("chmod 600"), "\(listed.stdout)")

            // HTTPS_PROXY that is not a proxy URL: serve refuses to start, saying which variable.
            keyless.stop()
            let bad = try Run.capture([Stack.binary, "serve", "--proxy-port", "0"],
                                      env: keyless.environment.merging(["HTTPS_PROXY": "socks5://proxy.example:1080"]) { $1 }, timeout: 30)
            #expect(bad.status == 78 && bad.stderr.contains("HTTPS_PROXY") && bad.stderr.contains("http://"), "\(bad.status) \(bad.stderr)")
        }
    }
}
