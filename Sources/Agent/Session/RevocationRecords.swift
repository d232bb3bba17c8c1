public import FoundationEssentials
import Glibc
import NIOConcurrencyHelpers

/// When each connection's revocation began, kept until the keyring holds its outcome
/// (SECURITY S17): a revoke whose keyring write is still owed — the keyring was locked until
/// the agent stopped — must not let the old tokens come back after a restart. A stored set
/// obtained at or before that time is read as a revocation to finish, never as tokens.
///
/// The file (`$XDG_STATE_HOME/jira-auth-agent/revocations.json`, 0600 in a 0700 directory)
/// holds connection ids and times only, no token or anything derived from one.
public final class RevocationRecords: Sendable {
    private let path: String?
    private let memory = NIOLockedValueBox<[String: Double]>([:])

    /// `path: nil` keeps the records in memory (tests, `serve --memory-store`).
    public init(path: String? = nil) {
        self.path = path
    }

    /// The records of this user: `$XDG_STATE_HOME` or `~/.local/state`.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> RevocationRecords {
        let base = environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["HOME"].map { $0 + "/.local/state" }
        return RevocationRecords(path: base.map { $0 + "/jira-auth-agent/revocations.json" })
    }

    /// When the revocation of `connection` began, if it is not settled in the keyring yet.
    public func revokedAt(_ connection: String) -> Date? {
        read()[connection].map { Date(timeIntervalSince1970: $0) }
    }

    func record(_ connection: String, at date: Date) {
        update { $0[connection] = date.timeIntervalSince1970 }
    }

    func clear(_ connection: String) {
        update { $0[connection] = nil }
    }

    private func read() -> [String: Double] {
        guard let path else { return memory.withLockedValue { $0 } }
        guard let data = FileManager.default.contents(atPath: path),
              let records = try? JSONDecoder().decode([String: Double].self, from: data) else { return [:] }
        return records
    }

    /// Read, change, write to a temporary file and rename: a crash leaves the old or the new
    /// file, never half of one. (One agent per user; a CLI revoking with the agent down runs
    /// alone too — `LocalAgent.refuseIfAnAgentRuns`.)
    private func update(_ change: (inout [String: Double]) -> Void) {
        guard let path else { memory.withLockedValue { change(&$0) }; return }
        var records = read()
        change(&records)
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        guard let data = try? JSONEncoder().encode(records) else { return }
        let temporary = path + ".\(getpid()).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]) else { return }
        if rename(temporary, path) != 0 { unlink(temporary) }
    }
}
