public import Foundation

/// A private agent for one end-to-end test: its own config and runtime directories, a
/// connection with a unique id (so keyring items of tests never collide), the built
/// binary run as `serve`, and the CLI run against it.
public final class AgentHarness: @unchecked Sendable {
    public let stack: Stack
    public let connection: String
    public let directory: URL
    public private(set) var process: Process?
    public var extraEnv: [String: String] = [:]

    public var runtimeDirectory: String { directory.appendingPathComponent("run").path }
    public var socket: String { runtimeDirectory + "/agent.sock" }
    public var configFile: String { directory.appendingPathComponent("config/jira-auth-agent/connections.toml").path }

    /// - Parameter connectionTOML: the `[[connection]]` body; `{ID}` is replaced by the id.
    public init(stack: Stack, prefix: String = "e2e", connectionTOML: String? = nil) throws {
        self.stack = stack
        self.connection = "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("jaa-\(connection)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("config/jira-auth-agent"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("system"), withIntermediateDirectories: true)
        let toml = (connectionTOML ?? Self.standardConnection(stack)).replacingOccurrences(of: "{ID}", with: connection)
        try toml.write(toFile: configFile, atomically: true, encoding: .utf8)
    }

    /// A connection to the stack's authorization server and Jira stand-in: by default the
    /// confidential client; `clientID`/`secretFile` pick another (`secretFile: nil` for none).
    public static func standardConnection(
        _ stack: Stack, clientID: String? = nil, secretFile: String?? = .none, extra: String = ""
    ) -> String {
        let secret = secretFile ?? stack.value("CLIENT_SECRET_FILE")
        return """
        [[connection]]
        id = "{ID}"
        name = "E2E {ID}"
        jira_url = "\(stack.jiraURL)"
        authorization_url = "\(stack.value("AS_AUTHORIZE_URL"))"
        token_url = "\(stack.value("AS_TOKEN_URL"))"
        revocation_url = "\(stack.value("AS_REVOKE_URL"))"
        client_id = "\(clientID ?? stack.value("CLIENT_ID"))"
        \(secret.map { "client_secret_file = \"\($0)\"" } ?? "")
        scope = "read write"
        default = true
        \(extra)
        """
    }

    public var environment: [String: String] {
        var env = [
            "XDG_CONFIG_HOME": directory.appendingPathComponent("config").path,
            "XDG_STATE_HOME": directory.appendingPathComponent("state").path,
            "XDG_CONFIG_DIRS": directory.appendingPathComponent("system").path,
            "JIRA_AUTH_AGENT_RUNTIME_DIR": runtimeDirectory,
        ]
        env.merge(extraEnv) { $1 }
        return env
    }

    /// Starts `serve --proxy-port 0` and waits until the socket answers.
    public func start(arguments: [String] = []) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Stack.binary)
        process.arguments = ["serve", "--proxy-port", "0", "--log-level", "debug"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = directory.appendingPathComponent("agent.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: socket),
               let out = try? cli(["status", "--json"]), [0, 75, 77].contains(out.status), out.stdout.contains("\"proxy_url\"") { return }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("the agent did not start; log:\n\(self.log())")
    }

    public func log() -> String {
        (try? String(contentsOf: directory.appendingPathComponent("agent.log"), encoding: .utf8)) ?? ""
    }

    /// Runs the CLI with this agent's environment.
    public func cli(_ arguments: [String], stdin: String? = nil, env: [String: String] = [:], timeout: TimeInterval = 120) throws -> Run.Output {
        try Run.capture([Stack.binary] + arguments, env: environment.merging(env) { $1 }, stdin: stdin, timeout: timeout)
    }

    /// `status --json` decoded loosely.
    public func status() throws -> [String: Any] {
        let out = try cli(["status", "--json"])
        return (try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    public func connectionStatus() throws -> [String: Any] {
        let list = try status()["connections"] as? [[String: Any]] ?? []
        return list.first { $0["connection"] as? String == connection } ?? [:]
    }

    public var proxyURL: String {
        get throws {
            guard let agent = try status()["agent"] as? [String: Any], let url = agent["proxy_url"] as? String else {
                throw HarnessError("no proxy_url in status")
            }
            return url
        }
    }

    /// SIGTERM and wait (graceful), or SIGKILL.
    public func stop(kill: Bool = false) {
        guard let process, process.isRunning else { return }
        if kill { Foundation.kill(process.processIdentifier, SIGKILL) } else { process.terminate() }
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }

    /// Removes the keyring item and the directories.
    public func cleanUp() {
        stop()
        _ = try? Run.capture(["secret-tool", "clear", "connection", connection])
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }
}

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
