import Agent
import ArgumentParser
import FoundationEssentials
import OAuth

struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a valid access token (and nothing else).",
        discussion: """
            Hand it to a program on standard input, never on a command line (every local user \
            can read command lines in /proc): `jira-auth-agent token --auth-header | curl -H @- URL`. \
            Better still, use the proxy, and the program never sees a token (proxy-url). \
            Exit codes: 77 authorization required (run `jira-auth-agent login`) or the program \
            may not get raw tokens, 75 keyring locked or unavailable, 69 agent not running.
            """)

    @Argument(help: "Connection id, team or `default`.") var connection: String = "default"
    @Option(name: .customLong("min-valid"), help: "Seconds the token must stay valid.") var minValid: Int = 30
    @Flag(help: "If no token is available, open the browser and wait for the sign-in.") var interactive = false
    @Flag(name: .customLong("auth-header"), help: "Print `Authorization: Bearer <token>`, for `curl -H @-`.") var authHeader = false
    @Flag(help: "Print the token API's answer: access_token, token_type, expires_at (seconds since 1970), connection.") var json = false
    @OptionGroup var agent: AgentOptions

    func validate() throws {
        if authHeader && json { throw ValidationError("--auth-header and --json exclude each other.") }
    }

    func run() throws {
        let client = try agent.client(timeout: interactive ? 330 : 30)
        let data = try client.json("POST", "/v1/connections/\(connection.percentEncodedPathSegment)/token",
                                   body: ["min_valid": .number(Double(minValid)), "interactive": .bool(interactive)])
        guard let token = JSONValue.object(from: data)?["access_token"]?.stringValue else {
            throw AgentError(.protocolViolation, "The agent's answer has no access_token.")
        }
        if json {
            Output.stdout(data + Data("\n".utf8))
        } else {
            Output.stdout((authHeader ? "Authorization: Bearer " : "") + token + "\n")
        }
    }
}

struct ProxyURL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy-url",
        abstract: "Print the proxy base URL of a connection, for JIRA_URL=$(jira-auth-agent proxy-url).")

    @Argument(help: "Connection id, team or `default`.") var connection: String = "default"
    @Option(name: .customLong("proxy-port"), help: "The proxy's port when no agent is running.") var proxyPort: Int = 7744

    @OptionGroup var agent: AgentOptions

    func run() throws {
        let c = try resolve(connection, in: loadCatalog())
        // The running agent knows the port it bound; else the default.
        var base = "http://127.0.0.1:\(proxyPort)"
        if let data = try? agent.client(timeout: 5).json("GET", "/v1/status"),
           case .object(let info)? = JSONValue.object(from: data)?["agent"], let url = info["proxy_url"]?.stringValue {
            base = url
        }
        print("\(base)/jira/\(c.id)")
    }
}

struct Open: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open a Jira issue in the browser: <jira_url>/browse/KEY.")

    @Argument(help: "The issue key, e.g. DEMO-1.") var key: String
    @Option(name: .long, help: "Connection id, team or `default`.") var connection: String = "default"
    @Flag(name: .customLong("print"), help: "Print the URL instead of opening it.") var printOnly = false

    /// `^[A-Za-z][A-Za-z0-9_]*-[0-9]+$`, checked on the bytes.
    static func isIssueKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard let dash = bytes.lastIndex(of: UInt8(ascii: "-")), dash > 0, dash < bytes.count - 1 else { return false }
        func isLetter(_ b: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b | 0x20) }
        func isDigit(_ b: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
        return isLetter(bytes[0])
            && bytes[1..<dash].allSatisfy { isLetter($0) || isDigit($0) || $0 == UInt8(ascii: "_") }
            && bytes[(dash + 1)...].allSatisfy(isDigit)
    }

    func run() throws {
        guard Self.isIssueKey(key) else {
            throw ValidationError("'\(key)' is not an issue key like PROJ-123.")
        }
        let c = try resolve(connection, in: loadCatalog())
        let url = c.jiraURL.appendingPathComponent("browse").appendingPathComponent(key.uppercased())
        if printOnly {
            print(url.absoluteString)
        } else {
            try BrowserLauncher().open(url)
            print("Opened \(url.absoluteString)")
        }
    }
}
