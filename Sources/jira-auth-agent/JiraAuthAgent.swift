import Agent
import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import Keyring
import OAuth

/// The command line (DESIGN §6): thin commands over the Agent module or the token API.
@main
struct JiraAuthAgent: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "jira-auth-agent",
        abstract: "Keeps your Jira OAuth tokens in the desktop keyring, renews them, and hands them to your programs.",
        discussion: """
            Programs use http://127.0.0.1:7744/jira/<connection> as their Jira base URL, or ask \
            for a token with `jira-auth-agent token`. Connections come from \
            /etc/xdg/jira-auth-agent/connections.toml (admin) and \
            ~/.config/jira-auth-agent/connections.toml (yours).
            """,
        version: version,
        subcommands: [Serve.self, Login.self, Token.self, Status.self, Revoke.self, Connections.self, Open.self, ProxyURL.self, Audit.self]
    )

    /// The command runs on the concurrency pool while the main thread waits; every path
    /// ends in `exit`. Not an `async` main: that one parks the main thread with
    /// `dispatch_main()`, which ends it with `pthread_exit`, and the forced unwind reads
    /// about 0.6 MiB of unwind tables that stay resident in the daemon for good (found with
    /// `perf record -e page-faults`; the idle RSS in `make bench`).
    static func main() {
        // Every command may hold a token or the client secret: no core files, not dumpable.
        ProcessHardening.apply()
        Task.detached {
            await runCommand()
            Glibc.exit(Output.successStatus())
        }
        DispatchSemaphore(value: 0).wait()
    }

    /// Errors reach the user here and only here (STYLE §5): `Error: <sentence>` and a
    /// sysexits code.
    static func runCommand() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as AgentError {
            Output.stderr("Error: \(error.message)\n")
            Glibc.exit(ExitCodes.code(for: error))
        } catch let error as KeyringError {
            Output.stderr("Error: \(error.description)\n")
            Glibc.exit(ExitCodes.tempfail)
        } catch {
            exit(withError: error)
        }
    }
}

/// sysexits(3) codes, one per kind of failure, so scripts can tell them apart.
enum ExitCodes {
    static let usage: Int32 = 64          // EX_USAGE
    static let unavailable: Int32 = 69    // EX_UNAVAILABLE: the agent is not running
    static let software: Int32 = 70       // EX_SOFTWARE
    static let tempfail: Int32 = 75       // EX_TEMPFAIL: keyring locked/unavailable, network
    static let noperm: Int32 = 77         // EX_NOPERM: authorization required or refused
    static let config: Int32 = 78         // EX_CONFIG
    static let ioError: Int32 = 74        // EX_IOERR: the output could not be written

    static func code(for error: AgentError) -> Int32 {
        switch error.code {
        case .authorizationRequired, .authorizationFailed, .tokenNotReleased: return noperm
        case .keyringLocked, .keyringUnavailable, .transient, .revocationUncertain: return tempfail
        case .agentNotRunning: return unavailable
        case .configuration, .unknownConnection: return config
        case .alreadyRunning: return unavailable
        case .badRequest: return usage
        case .protocolViolation, .internalError: return software
        }
    }
}

/// Options shared by the commands that talk to a running agent.
struct AgentOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The agent's socket (default: $XDG_RUNTIME_DIR/jira-auth-agent/agent.sock).", valueName: "path"))
    var socket: String?

    func socketPath() throws -> String {
        if let socket { return socket }
        return try AgentPaths.standard().socket
    }

    func client(timeout: Int = 30) throws -> TokenAPIClient {
        TokenAPIClient(socketPath: try socketPath(), timeout: timeout)
    }
}

extension TokenAPIClient {
    /// Calls the agent and turns an error answer into an `AgentError` with its code.
    func json(_ method: String, _ path: String, body: [String: JSONValue]? = nil) throws -> Data {
        let response = try call(method, path, json: body)
        guard (200..<300).contains(response.status) else {
            let object = JSONValue.object(from: response.body)
            let code = object?["error"]?.stringValue.flatMap(AgentError.Code.init(rawValue:)) ?? .internalError
            let message = object?["message"]?.stringValue ?? "The agent answered HTTP \(response.status)."
            throw AgentError(code, message)
        }
        return response.body
    }
}

/// `open`'s and `proxy-url`'s view of the configuration without an agent.
func loadCatalog() -> ConnectionCatalog {
    let catalog = ConnectionCatalog.load()
    for problem in catalog.problems {
        Output.stderr("Warning: \(problem)\n")
    }
    return catalog
}

func resolve(_ name: String?, in catalog: ConnectionCatalog) throws -> Connection {
    if let connection = catalog.resolve(name) { return connection }
    let known = catalog.connections.map(\.id).joined(separator: ", ")
    if known.isEmpty {
        throw AgentError(.unknownConnection, "No connections are configured. Add one to ~/.config/jira-auth-agent/connections.toml (example: /usr/local/share/jira-auth-agent/connections.example.toml) or ask your admin.")
    }
    throw AgentError(.unknownConnection, name == nil || name == "default"
        ? "No default connection; name one of: \(known)."
        : "No connection or team named '\(name!)'. Known connections: \(known).")
}
