import Foundation
import Testing
@testable import Agent

/// `HTTPS_PROXY`/`NO_PROXY` as tools read them, and `extra_headers_file` (issue 16 item 2).
@Suite struct ForwardProxyTests {
    @Test("HTTPS_PROXY: lower case wins, scheme optional, credentials become Basic and never show")
    func parsing() throws {
        let proxy = try #require(try ForwardProxy.parse(environment: [
            "HTTPS_PROXY": "http://ignored:1", "https_proxy": "http://jdoe:p%40ss+w@proxy.acme.example:3128"]))
        #expect(proxy.host == "proxy.acme.example" && proxy.port == 3128)
        #expect(proxy.authorization == "Basic " + Data("jdoe:p@ss+w".utf8).base64EncodedString())
        #expect(proxy.description == "http://proxy.acme.example:3128 (with credentials)")
        #expect(!proxy.description.contains("p@ss") && !"\(proxy)".contains("jdoe"))
        let bare = try #require(try ForwardProxy.parse(environment: ["HTTPS_PROXY": " proxy:8080 "]))
        #expect(bare.host == "proxy" && bare.port == 8080 && bare.authorization == nil)
        #expect(try ForwardProxy.parse(environment: [:]) == nil)
        #expect(try ForwardProxy.parse(environment: ["HTTPS_PROXY": ""]) == nil)
        #expect(try ForwardProxy.parse(environment: ["HTTPS_PROXY": "http://[::1]:3128"])?.host == "::1")
        for bad in ["socks5://proxy:1080", "https://proxy:443", "http://"] {
            #expect(throws: AgentError.self, "\(bad)") { try ForwardProxy.parse(environment: ["HTTPS_PROXY": bad]) }
        }
    }

    @Test("NO_PROXY: hosts, domain suffixes (with or without a dot), IPs, ports ignored, *")
    func noProxy() throws {
        let proxy = try #require(try ForwardProxy.parse(environment: [
            "HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": " .internal.acme, sso.acme.example:443 ,10.1.2.3,[fd00::1]"]))
        #expect(!proxy.applies(to: "jira.internal.acme"))
        #expect(!proxy.applies(to: "internal.acme"))
        #expect(proxy.applies(to: "notinternal.acme"), "a suffix only at a dot")
        #expect(!proxy.applies(to: "SSO.acme.example"))
        #expect(!proxy.applies(to: "10.1.2.3") && proxy.applies(to: "10.1.2.30"))
        #expect(!proxy.applies(to: "[fd00::1]"))
        #expect(proxy.applies(to: "api.acme.example"))
        let all = try #require(try ForwardProxy.parse(environment: ["HTTPS_PROXY": "proxy:1", "no_proxy": "*"]))
        #expect(!all.applies(to: "anything.example"))
        let listed = try #require(try ForwardProxy.parse(environment: ["HTTPS_PROXY": "proxy:1", "no_proxy": "*, .internal"]))
        #expect(listed.applies(to: "anything.example"), "as curl: * inside a list is no wildcard")
        #expect(!listed.applies(to: "a.internal"))
        let literal = try #require(try ForwardProxy.parse(environment: ["HTTPS_PROXY": "http://u:a%2541b@proxy:1"]))
        #expect(literal.authorization == "Basic " + Data("u:a%41b".utf8).base64EncodedString(), "decoded once")
    }

    @Test("extra_headers_file: Name: value lines; comments; 0600; the agent's own names refused")
    func extraHeaders() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("headers-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        func write(_ text: String, mode: Int = 0o600) {
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
            chmod(path, mode_t(mode))
        }
        write("# key\r\nX-Api-Key:  s3cr3t-value \n\nX-Tenant: acme\n")
        let fields = try ExtraHeaders.read(path)
        #expect(fields.map(\.name) == ["X-Api-Key", "X-Tenant"] && fields.map(\.value) == ["s3cr3t-value", "acme"])
        for (text, fragment) in [("Authorization: Bearer x", "set by the agent"), ("X-Forwarded-For: 1.2.3.4", "set by the agent"),
                                 ("no colon here", "Name: value"), ("Bad Name: x", "not a field name"), ("X-K: a\u{01}b", "control character")] {
            write(text)
            do {
                _ = try ExtraHeaders.read(path)
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.message.contains(fragment), "\(error.message)")
                #expect(!error.message.contains("Bearer x") && !error.message.contains("1.2.3.4"), "no value in the message")
            }
        }
        write("X-Api-Key: v\n", mode: 0o644)
        #expect(throws: AgentError.self) { try ExtraHeaders.read(path) }
    }
}
