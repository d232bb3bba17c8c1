public import FoundationEssentials
import Glibc

/// Where the agent keeps its runtime files: `$XDG_RUNTIME_DIR/jira-auth-agent/` (0700),
/// holding `agent.sock` (0600) and `agent.lock`. No tokens are ever written there.
public struct AgentPaths: Sendable {
    public var runtimeDirectory: String
    public var socket: String { runtimeDirectory + "/agent.sock" }
    public var lock: String { runtimeDirectory + "/agent.lock" }

    public init(runtimeDirectory: String) {
        self.runtimeDirectory = runtimeDirectory
    }

    /// From the environment; `--socket` style overrides are applied by the CLI.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AgentPaths {
        if let explicit = environment["JIRA_AUTH_AGENT_RUNTIME_DIR"], !explicit.isEmpty {
            return AgentPaths(runtimeDirectory: explicit)
        }
        guard let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty else {
            throw AgentError(.configuration, "XDG_RUNTIME_DIR is not set, so the agent has no private place for its socket. Log in through a desktop or `systemd --user` session, or set XDG_RUNTIME_DIR to a directory only you can use (mode 0700).")
        }
        return AgentPaths(runtimeDirectory: runtime + "/jira-auth-agent")
    }

    /// Creates the directory with mode 0700 and refuses one that others can enter.
    public func prepareDirectory() throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: runtimeDirectory) {
            try fm.createDirectory(atPath: runtimeDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        var info = stat()
        guard lstat(runtimeDirectory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw AgentError(.configuration, "\(runtimeDirectory) is not a directory; remove it or set JIRA_AUTH_AGENT_RUNTIME_DIR.")
        }
        guard info.st_uid == getuid() else {
            throw AgentError(.configuration, "\(runtimeDirectory) belongs to another user; refusing to use it.")
        }
        if info.st_mode & 0o077 != 0, chmod(runtimeDirectory, 0o700) != 0 {
            throw AgentError(.configuration, "\(runtimeDirectory) is open to other users and its mode cannot be changed to 0700 (errno \(errno)).")
        }
    }
}
