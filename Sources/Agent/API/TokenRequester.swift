import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The program that asked for a raw token: the executable of the peer process, or, when the
/// peer is this project's own CLI (`jira-auth-agent token` inside a script), the CLI's parent,
/// since the CLI only carries the request for it.
public struct TokenRequester: Sendable, Hashable, Codable {
    /// Absolute path of the executable; `nil` when the process was gone or `/proc` unreadable.
    public var executable: String?
    public var pid: Int32?
    /// `jira-auth-agent` when the request came through the CLI on the program's behalf.
    public var via: String?

    public init(executable: String?, pid: Int32?, via: String? = nil) {
        self.executable = executable
        self.pid = pid
        self.via = via
    }

    /// What to show for a requester whose executable is unknown.
    public var displayName: String { executable ?? "unknown program" + (pid.map { " (pid \($0))" } ?? "") }

    /// Looks the peer up in `/proc`. `clientExecutables` are the CLI's binaries: a request
    /// from one of them is attributed to its parent process.
    public static func lookUp(pid: Int32?, clientExecutables: Set<String>, procRoot: String = "/proc") -> TokenRequester {
        guard let pid, pid > 0 else { return TokenRequester(executable: nil, pid: nil) }
        let executable = ProcFS.executable(of: pid, procRoot: procRoot)
        // The full CLI makes itself not dumpable (it may hold a secret), and the kernel then
        // hides its /proc/PID/exe from other processes without CAP_SYS_PTRACE, the agent
        // included; its command name stays readable. A program could name itself so, but it
        // could as well run the CLI: attribution is a record, not a boundary.
        if let executable, !clientExecutables.contains(executable) { return TokenRequester(executable: executable, pid: pid) }
        guard let stat = ProcFS.stat(of: pid, procRoot: procRoot), executable != nil || stat.command == Self.clientCommandName,
              stat.parent > 1 else {
            return TokenRequester(executable: executable, pid: pid)
        }
        return TokenRequester(executable: ProcFS.executable(of: stat.parent, procRoot: procRoot), pid: stat.parent, via: "jira-auth-agent")
    }

    /// The kernel's command name (15 bytes at most) of both CLI binaries.
    static let clientCommandName = "jira-auth-agent"

    /// The CLI's binaries, where the front (`Sources/Front/FullCLI.swift`) finds the full
    /// CLI: side by side (a build directory), or the front in `PREFIX/bin` and the full CLI,
    /// which also runs `serve`, in `PREFIX/libexec/jira-auth-agent` (an installation).
    public static func clientExecutables(besides agentExecutable: String? = nil) -> Set<String> {
        guard let agentExecutable = agentExecutable ?? ProcFS.executable(of: getpid()), let slash = agentExecutable.lastIndex(of: "/") else { return [] }
        let directory = String(agentExecutable[..<slash])
        var set: Set<String> = ["\(directory)/jira-auth-agent", "\(directory)/jira-auth-agent-full"]
        let installed = "/libexec/jira-auth-agent"
        if directory.hasSuffix(installed) {
            set.insert(String(directory.dropLast(installed.count)) + "/bin/jira-auth-agent")
        }
        return set
    }
}

/// The few `/proc` reads the audit needs; each is one or two system calls.
enum ProcFS {
    /// The target of `/proc/PID/exe`, without the kernel's " (deleted)" suffix.
    static func executable(of pid: Int32, procRoot: String = "/proc") -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("\(procRoot)/\(pid)/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let path = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path.hasSuffix(" (deleted)") ? String(path.dropLast(" (deleted)".count)) : path
    }

    /// The command name (the second field of `/proc/PID/stat`, readable for every process)
    /// and the parent's PID (the fourth). The name, in parentheses, may itself contain
    /// spaces and parentheses: the rest is parsed after the last `)`.
    static func stat(of pid: Int32, procRoot: String = "/proc") -> (command: String, parent: Int32)? {
        guard let stat = try? String(contentsOfFile: "\(procRoot)/\(pid)/stat", encoding: .utf8),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"), open < close else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count >= 2, let parent = Int32(fields[1]) else { return nil }
        return (String(stat[stat.index(after: open)..<close]), parent)
    }
}
