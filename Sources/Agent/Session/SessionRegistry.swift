public import FoundationEssentials
public import Keyring
public import Logging
import NIOConcurrencyHelpers
public import OAuth

/// All sessions of the agent, one per configured connection, created from the catalog
/// and rebuilt on reload. The `AccessTokenProvider` that the proxy and the token API use.
public final class SessionRegistry: AccessTokenProvider, Sendable {
    public struct Dependencies: Sendable {
        public var store: any TokenStore
        public var http: OutboundHTTPClient
        public var secrets: ClientSecretSource
        public var launcher: BrowserLauncher
        public var clock: any WallClock
        public var policy: RefreshPolicy
        public var notifier: Notifier
        public var logger: Logger
        /// Refresh ahead of expiry on timers: the daemon does; CLI processes must not.
        public var proactiveRefresh: Bool
        /// Revocations not yet settled in the keyring (in memory unless given a file).
        public var revocations: RevocationRecords

        public init(store: any TokenStore, http: OutboundHTTPClient = OutboundHTTPClient(), secrets: ClientSecretSource = ClientSecretSource(),
                    launcher: BrowserLauncher = BrowserLauncher(), clock: any WallClock = SystemWallClock(),
                    policy: RefreshPolicy = RefreshPolicy(), notifier: Notifier = .none, logger: Logger,
                    proactiveRefresh: Bool = true, revocations: RevocationRecords = RevocationRecords()) {
            self.proactiveRefresh = proactiveRefresh
            self.revocations = revocations
            self.store = store
            self.http = http
            self.secrets = secrets
            self.launcher = launcher
            self.clock = clock
            self.policy = policy
            self.notifier = notifier
            self.logger = logger
        }
    }

    private struct Contents {
        var catalog: ConnectionCatalog
        var sessions: [String: Session]
    }

    public let cache: TokenCache
    public let dependencies: Dependencies
    /// The one timer of every session (the agent runs it as a service); `nil` in CLI
    /// processes, which never refresh on their own.
    public let scheduler: RefreshScheduler?
    private let contents: NIOLockedValueBox<Contents>

    public init(catalog: ConnectionCatalog, dependencies: Dependencies) {
        self.dependencies = dependencies
        self.cache = TokenCache(clock: dependencies.clock)
        self.scheduler = dependencies.proactiveRefresh ? RefreshScheduler(clock: dependencies.clock) : nil
        self.contents = NIOLockedValueBox(Contents(catalog: catalog, sessions: [:]))
        let sessions = Dictionary(uniqueKeysWithValues: catalog.connections.map { ($0.id, makeSession($0)) })
        contents.withLockedValue { $0.sessions = sessions }
    }

    /// A session for `connection`, which owns the connection's cache entry from now on.
    private func makeSession(_ connection: Connection) -> Session {
        let d = dependencies
        let client = ConnectionOAuthClient(connection: connection, http: d.http, secrets: d.secrets, logger: d.logger)
        let session = Session(connection: connection, client: client, store: d.store,
                              authorizer: Authorizer(launcher: d.launcher, logger: d.logger), cache: cache,
                              clock: d.clock, policy: d.policy, notifier: d.notifier, logger: d.logger,
                              scheduler: scheduler, revocations: d.revocations)
        cache.adopt(connection.id, owner: session)
        return session
    }

    public var catalog: ConnectionCatalog { contents.withLockedValue { $0.catalog } }

    /// The session for an id, `default`, a team or `team:<name>`.
    public func session(_ name: String?) throws -> Session {
        try contents.withLockedValue { contents in
            guard let connection = contents.catalog.resolve(name), let session = contents.sessions[connection.id] else {
                let known = contents.catalog.connections.map(\.id).joined(separator: ", ")
                let what = name ?? "default"
                throw AgentError(.unknownConnection, known.isEmpty
                    ? "No connections are configured. Ask your admin for /etc/xdg/jira-auth-agent/connections.toml, or add one to ~/.config/jira-auth-agent/connections.toml (see share/jira-auth-agent/connections.example.toml)."
                    : (name == nil || name == "default"
                        ? "No default connection is configured; name one of: \(known)."
                        : "No connection or team named '\(what)'. Known connections: \(known). See `jira-auth-agent connections list`."))
            }
            return session
        }
    }

    public var sessions: [Session] {
        contents.withLockedValue { c in c.catalog.connections.compactMap { c.sessions[$0.id] } }
    }

    /// Loads every session's tokens so that proactive refresh starts without callers.
    public func start() async {
        for session in sessions { await session.start() }
    }

    /// Replaces the catalog (SIGHUP). Unchanged connections keep their sessions (and
    /// tokens) and look in the keyring for a newer set (a `login` outside the agent);
    /// removed or changed ones are shut down.
    public func reload(_ catalog: ConnectionCatalog) async {
        // The sessions being replaced or removed stop first — a refresh in flight ends and
        // what they owe the keyring is written — before their successors become visible and
        // read the keyring (S6: never refresh with an already-rotated token).
        let replaced: [Session] = contents.withLockedValue { contents in
            contents.sessions.compactMap { id, session in
                catalog.connections.first { $0.id == id } == session.connection ? nil : session
            }
        }
        for session in replaced { await session.shutdown() }
        var fresh: [Session] = []
        var kept: [Session] = []
        let stopped: [Session] = contents.withLockedValue { contents in
            var next: [String: Session] = [:]
            var stopped: [Session] = []
            for connection in catalog.connections {
                if let existing = contents.sessions[connection.id], existing.connection == connection {
                    next[connection.id] = existing
                    kept.append(existing)
                } else {
                    let session = makeSession(connection)
                    next[connection.id] = session
                    fresh.append(session)
                }
            }
            for (id, session) in contents.sessions where next[id] !== session {
                stopped.append(session)
                // Before the new catalog is visible: no token of a removed connection stays
                // served (a changed one's was dropped by `makeSession`).
                if next[id] == nil { cache.retire(id) }
            }
            contents = Contents(catalog: catalog, sessions: next)
            return stopped
        }
        for session in stopped where !replaced.contains(where: { $0 === session }) { await session.shutdown() }
        for session in fresh { await session.start() }
        for session in kept { await session.keyringMayHaveChanged() }
    }

    public func shutdown() async {
        for session in sessions { await session.shutdown() }
    }

    // MARK: AccessTokenProvider

    public func cachedAccessToken(connection: String, minValid: TimeInterval) -> String? {
        cache.token(connection, minValid: minValid)
    }

    public func expiryIsAssumed(connection: String) -> Bool {
        cache.expiryAssumed(connection)
    }

    public func accessToken(connection: String, minValid: TimeInterval, interactive: Bool) async throws -> TokenSet {
        try await session(connection).accessToken(minValid: minValid, interactive: interactive)
    }

    public func refreshAfterRejection(connection: String, rejected accessToken: String) async throws -> TokenSet {
        try await session(connection).refreshAfterRejection(rejected: accessToken)
    }
}
