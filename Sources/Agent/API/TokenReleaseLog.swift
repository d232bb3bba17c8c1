public import FoundationEssentials
import NIOConcurrencyHelpers

/// Whether a program may receive a connection's raw access token (`token_executables` in
/// connections.toml). A guard against tools that should use the proxy, not a boundary
/// against code running as the user: such code can read another process's memory anyway
/// (README, "Who got a token").
public enum TokenReleasePolicy {
    public enum Decision: Equatable, Sendable {
        case release
        case refuse(String)
    }

    /// `allowed == nil`: every program of the user may; otherwise only those executables.
    public static func decide(connection: String, allowed: [String]?, requester: TokenRequester) -> Decision {
        guard let allowed else { return .release }
        if let executable = requester.executable, allowed.contains(executable) { return .release }
        let who = requester.executable.map { "\($0)\(requester.via.map { " (through \($0))" } ?? "")" }
            ?? "a program whose executable could not be read"
        return .refuse("\(who) may not receive raw tokens for '\(connection)': token_executables in connections.toml lists the programs that may. Send the program's Jira requests through the proxy instead (base URL: jira-auth-agent proxy-url \(connection)).")
    }
}

/// One answer of the token API to a request for a raw token.
public struct TokenRelease: Sendable, Codable, Equatable {
    public enum Outcome: String, Sendable, Codable { case released, refused }
    public var time: Date
    public var connection: String
    public var requester: TokenRequester
    public var outcome: Outcome
}

/// Per connection and program: how many tokens it got or was refused, first and last time.
public struct TokenRecipient: Sendable, Codable, Equatable {
    public var connection: String
    public var executable: String?
    public var released: Int
    public var refused: Int
    public var first: Date
    public var last: Date
}

/// `GET /v1/audit`.
public struct AuditBody: Sendable, Codable {
    /// Newest first.
    public var releases: [TokenRelease]
    public var recipients: [TokenRecipient]
    /// When the agent started recording (releases before its start are not known).
    public var since: Date
}

/// Recent raw-token releases, in memory (the agent's journal keeps the first release to
/// each program per run). Bounded: the newest `capacity` releases and `maxRecipients`
/// programs, so a script in a loop cannot grow it.
public final class TokenReleaseLog: Sendable {
    private struct Key: Hashable {
        var connection: String
        var executable: String?
    }
    private struct JournalKey: Hashable {
        var key: Key
        var outcome: TokenRelease.Outcome
    }
    private struct State {
        var ring: [TokenRelease] = []
        var next = 0
        var recipients: [Key: TokenRecipient] = [:]
        /// What the journal was told this run, independent of the recipients' eviction.
        var journaled: Set<JournalKey> = []
    }
    private let state = NIOLockedValueBox(State())
    public let capacity: Int
    public let maxRecipients: Int
    public let since: Date

    public init(capacity: Int = 200, maxRecipients: Int = 200, since: Date = Date()) {
        self.capacity = max(capacity, 1)
        self.maxRecipients = max(maxRecipients, 1)
        self.since = since
    }

    /// Records a release; `true` when this program got (or was refused) a token of this
    /// connection for the first time since the agent started (worth a journal line).
    @discardableResult
    public func record(_ release: TokenRelease) -> Bool {
        state.withLockedValue { s in
            if s.ring.count < capacity { s.ring.append(release) } else { s.ring[s.next] = release }
            s.next = (s.next + 1) % capacity
            let key = Key(connection: release.connection, executable: release.requester.executable)
            if s.journaled.count >= 4 * maxRecipients { s.journaled.removeAll() }   // bounded; at worst a line repeats
            let isNew = s.journaled.insert(JournalKey(key: key, outcome: release.outcome)).inserted
            var recipient = s.recipients[key] ?? TokenRecipient(connection: release.connection, executable: key.executable,
                                                                 released: 0, refused: 0, first: release.time, last: release.time)
            if release.outcome == .released { recipient.released += 1 } else { recipient.refused += 1 }
            recipient.last = max(recipient.last, release.time)
            s.recipients[key] = recipient
            if s.recipients.count > maxRecipients,
               let stalest = s.recipients.min(by: { $0.value.last < $1.value.last })?.key {
                s.recipients[stalest] = nil
            }
            return isNew
        }
    }

    /// Newest first; only `connection`'s when given.
    public func releases(connection: String? = nil) -> [TokenRelease] {
        state.withLockedValue { s in
            let ordered = s.ring.count < capacity ? s.ring : Array(s.ring[s.next...] + s.ring[..<s.next])
            return ordered.reversed().filter { connection == nil || $0.connection == connection }
        }
    }

    /// Most recent first; only `connection`'s when given.
    public func recipients(connection: String? = nil) -> [TokenRecipient] {
        state.withLockedValue { s in
            s.recipients.values.filter { connection == nil || $0.connection == connection }
                .sorted { ($0.last, $0.connection) > ($1.last, $1.connection) }
        }
    }

    public func audit(connection: String? = nil) -> AuditBody {
        AuditBody(releases: releases(connection: connection), recipients: recipients(connection: connection), since: since)
    }
}
