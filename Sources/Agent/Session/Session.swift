public import FoundationEssentials
import Keyring
import Logging
import NIOConcurrencyHelpers
public import OAuth

/// One connection's tokens and everything that happens to them: load, authorize,
/// refresh ahead of expiry, revoke (DESIGN §5). An actor with an explicit `SessionState`,
/// re-checked after every `await` (STYLE §7).
///
/// Single flight: concurrent callers join the one authorization or refresh in progress,
/// so a hundred callers cause one browser tab or one refresh request.
public actor Session {
    public nonisolated let connection: Connection
    let client: ConnectionOAuthClient
    let store: any TokenStore
    let authorizer: Authorizer
    let cache: TokenCache
    let clock: any WallClock
    let policy: RefreshPolicy
    let notifier: Notifier
    let logger: Logger

    private(set) var state: SessionState = .unloaded
    /// Bumped by revocation and new authorizations: work started under an older
    /// generation must not bring tokens back (SECURITY S12).
    private var generation = 0
    private var refreshing: Task<TokenSet, any Error>?
    private var authorizing: Task<TokenSet, any Error>?
    private var timer: Task<Void, Never>?
    private var nextRefresh: Date?
    private var lastRefresh: Date?
    private var lastError: String?
    private var failures = 0
    /// Tokens obtained but not yet persisted (keyring failed): not handed out (S6).
    private var unsaved = false
    /// What the person must do for the authorization in progress (open this URL, enter this
    /// code), shown by `status` so that `login` through the agent can print it.
    private let prompt = NIOLockedValueBox<String?>(nil)
    /// Tokens whose revocation the server did not confirm: `revoke` retries them.
    private var pendingRevocation: TokenSet?
    /// Set by `shutdown()`: no more timers.
    private var stopped = false
    /// False in CLI processes: a short-lived command must never start a refresh it cannot
    /// see through to the keyring (a lost rotated refresh token kills the grant).
    let proactiveRefresh: Bool
    /// The refresh token the server refused: a keyring item still holding it is no news.
    private var deadRefreshToken: String?

    init(connection: Connection, client: ConnectionOAuthClient, store: any TokenStore, authorizer: Authorizer,
         cache: TokenCache, clock: any WallClock, policy: RefreshPolicy, notifier: Notifier, logger: Logger,
         proactiveRefresh: Bool = true) {
        self.proactiveRefresh = proactiveRefresh
        self.connection = connection
        self.client = client
        self.store = store
        self.authorizer = authorizer
        self.cache = cache
        self.clock = clock
        self.policy = policy
        self.notifier = notifier
        var logger = logger
        logger[metadataKey: "connection"] = "\(connection.id)"
        self.logger = logger
    }

    // MARK: Tokens for callers

    /// A token valid for `minValid` seconds: from memory, else a refresh, else (when
    /// `interactive`) the one authorization in progress.
    public func accessToken(minValid: TimeInterval, interactive: Bool) async throws -> TokenSet {
        try await loadIfNeeded()
        try await adoptExternalLogin()
        try await persistIfNeeded()
        if let tokens = state.tokens, tokens.isValid(for: Self.effectiveMinValid(minValid, tokens), at: clock.now()) { return tokens }
        if let tokens = state.tokens, tokens.refreshToken != nil {
            do {
                // The freshest token there is, even if the server's lifetime is shorter
                // than `minValid`: refreshing again would not help.
                return try await refresh()
            } catch let error as AgentError where error.code != .authorizationRequired || !interactive {
                throw error
            } catch let error as AgentError where error.code == .authorizationRequired {
                _ = error  // fall through to an interactive authorization
            }
        }
        guard interactive else { throw authorizationRequired() }
        if let authorizing { return try await authorizing.value }
        return try await authorize(mode: authorizer.launcher.canOpen ? .browser : .noBrowser, announce: { [logger] line in
            // The prompt holds the one-time start URL: not for the journal (`status` shows it
            // to the user over the private socket).
            _ = line
            logger.notice("authorization needed: a browser sign-in was started; `jira-auth-agent status` shows its URL")
        })
    }

    /// A caller cannot ask for more than half of the server's token lifetime: with 5-minute
    /// tokens, `min_valid = 600` would otherwise refresh on every call (a refresh storm).
    static func effectiveMinValid(_ minValid: TimeInterval, _ tokens: TokenSet) -> TimeInterval {
        guard let expiresAt = tokens.expiresAt else { return minValid }
        let lifetime = expiresAt.timeIntervalSince(tokens.obtainedAt)
        return lifetime > 0 ? min(minValid, lifetime / 2) : minValid
    }

    /// The gateway refused `rejected` as `invalid_token`: refresh once for everyone who
    /// saw that token; callers holding an older token get the current one.
    public func refreshAfterRejection(rejected: String) async throws -> TokenSet {
        try await loadIfNeeded()
        if let tokens = state.tokens, tokens.accessToken != rejected { return tokens }
        if state.tokens?.refreshToken == nil { throw authorizationRequired() }
        return try await refresh()
    }

    // MARK: Authorization

    /// Runs (or joins) the interactive authorization; saves before returning.
    public func authorize(mode: Authorizer.Mode, announce: @escaping Authorizer.Announce, readLine: Authorizer.ReadLine? = nil) async throws -> TokenSet {
        if let authorizing { return try await authorizing.value }
        let prompt = self.prompt
        let announce: Authorizer.Announce = { line in
            prompt.withLockedValue { $0 = line }
            announce(line)
        }
        defer { prompt.withLockedValue { $0 = nil } }
        try? await loadIfNeeded()
        await settleRefresh()   // a rotated refresh token is persisted before we start over
        if let authorizing { return try await authorizing.value }   // re-check after the awaits
        let previous = state
        state = .authorizing
        generation += 1
        let task = Task { try await self.performAuthorization(mode: mode, announce: announce, readLine: readLine) }
        authorizing = task
        defer { authorizing = nil }
        do {
            return try await task.value
        } catch {
            if case .authorizing = state { state = previous.tokens != nil ? previous : .unauthorized }
            if case .needsReauthorization = previous, state.tokens == nil { state = previous }
            lastError = "\(error)"
            throw error
        }
    }

    private func performAuthorization(mode: Authorizer.Mode, announce: @escaping Authorizer.Announce, readLine: Authorizer.ReadLine?) async throws -> TokenSet {
        let generation = self.generation
        let previousAccount = state.tokens?.account
        var tokens = try await authorizer.authorize(client: client, mode: mode, announce: announce, readLine: readLine)
        tokens.account = await AccountLookup(client: client, logger: logger).account(with: tokens)
        guard generation == self.generation else { throw revokedDuringWork() }
        if let before = previousAccount, let now = tokens.account, before != now {
            logger.warning("signed in as a different account", metadata: ["before": "\(before)", "now": "\(now)"])
            announce("Note: signed in as '\(now)', previously '\(before)'.")
        }
        try await adopt(tokens)
        logger.info("authorized", metadata: ["account": "\(tokens.account ?? "-")"])
        return tokens
    }

    // MARK: Refresh

    /// Refreshes now, or joins the refresh in flight (single flight, SECURITY S6).
    @discardableResult
    public func refresh() async throws -> TokenSet {
        if let refreshing { return try await refreshing.value }
        guard let tokens = state.tokens else { throw authorizationRequired() }
        state = .refreshing(tokens)
        let task = Task { try await self.performRefresh(tokens) }
        refreshing = task
        defer { refreshing = nil }
        return try await task.value
    }

    private func performRefresh(_ tokens: TokenSet) async throws -> TokenSet {
        let generation = self.generation
        do {
            let fresh = try await client.refresh(tokens, now: clock.now())
            guard generation == self.generation else { throw revokedDuringWork() }
            failures = 0
            lastRefresh = clock.now()
            try await adopt(fresh)
            logger.info("refreshed", metadata: ["expires_at": "\(fresh.expiresAt.flatMap(EpochSeconds.of) ?? 0)"])
            return fresh
        } catch let error as AgentError where error.code == .authorizationRequired && generation == self.generation {
            // S6: another process may have rotated the refresh token; re-read the store.
            if let stored = try? await store.load(connection: connection.id), stored.refreshToken != tokens.refreshToken {
                logger.info("refresh token changed in the keyring; using it")
                state = .authorized(stored)
                cache.set(connection.id, stored, owner: self)
                schedule(for: stored)
                return stored
            }
            deadRefreshToken = tokens.refreshToken
            state = .needsReauthorization(reason: error.message, account: tokens.account)
            cache.remove(connection.id, owner: self)
            cancelTimer()
            lastError = error.message
            logger.warning("refresh refused; authorization needed")
            notifier.send("Jira access for \(connection.name) expired", "Sign in again: jira-auth-agent login \(connection.id)")
            throw error
        } catch let error as AgentError where generation == self.generation {
            // Transient (network, 5xx) or a keyring failure: keep the tokens, retry later.
            if case .refreshing(let held) = state { state = .authorized(held) }
            failures += 1
            lastError = error.message
            let delay = policy.backoff(attempt: failures)
            logger.info("refresh failed; will retry", metadata: ["in_seconds": "\(Int(delay))", "code": "\(error.code.rawValue)"])
            arm(at: clock.now().addingTimeInterval(delay))
            throw error
        }
    }

    /// Persists, then publishes (S6: the new refresh token is stored before the new
    /// access token is used).
    private func adopt(_ tokens: TokenSet) async throws {
        var tokens = tokens
        tokens.issuedFor = connection.tokenBinding
        state = .authorized(tokens)
        unsaved = true
        try await persistIfNeeded()
        lastError = nil
        schedule(for: tokens)
    }

    private func persistIfNeeded() async throws {
        guard unsaved, let tokens = state.tokens else { return }
        do {
            try await store.save(tokens, for: identity(account: tokens.account))
            unsaved = false
            cache.set(connection.id, tokens, owner: self)
        } catch {
            cache.remove(connection.id, owner: self)
            throw KeyringFailure.agentError(error, connection: connection.id)
        }
    }

    // MARK: Revocation

    /// Revokes at the server (refresh token first, RFC 7009 §2.1), then deletes the
    /// keyring item — deleted even when the server could not confirm, since the user asked.
    public func revoke() async throws -> RevocationReport {
        cancelTimer()
        authorizing?.cancel()
        try? await loadIfNeeded()
        // A refresh in flight may already have rotated the tokens at the server: let it
        // finish and persist, then revoke what it produced (S12) — no await after this
        // point until the state is `.revoked`.
        await settleRefresh()
        generation += 1
        cancelTimer()
        var tokens: TokenSet? = state.tokens ?? pendingRevocation
        if tokens == nil { tokens = try? await store.load(connection: connection.id) }
        state = .revoked
        cache.remove(connection.id, owner: self)
        var report = RevocationReport(connection: connection.id)
        if let tokens {
            report = await Revoker(client: client, logger: logger).revoke(tokens)
        }
        do {
            report.deletedFromKeyring = try await store.delete(connection: connection.id)
        } catch {
            throw KeyringFailure.agentError(error, connection: connection.id)
        }
        unsaved = false
        // Unconfirmed: keep the tokens (in memory only) so that `revoke` can retry them.
        pendingRevocation = report.uncertain.isEmpty ? nil : tokens
        lastError = report.uncertain.isEmpty ? nil : "revocation unconfirmed: the tokens may still be valid until they expire; retry: jira-auth-agent revoke \(connection.id)"
        logger.info("revoked", metadata: ["server_confirmed": "\(report.uncertain.isEmpty)"])
        return report
    }

    // MARK: Loading, scheduling, status

    /// Reads the keyring once; keyring errors are thrown (never read as "no token").
    func loadIfNeeded() async throws {
        guard case .unloaded = state else { return }
        let loaded: TokenSet?
        do { loaded = try await store.load(connection: connection.id) } catch {
            lastError = "\(error)"
            throw KeyringFailure.agentError(error, connection: connection.id)
        }
        guard case .unloaded = state else { return }
        if let loaded, let bound = loaded.issuedFor, bound != connection.tokenBinding {
            // The connection was edited to another server: these tokens must not go there.
            logger.warning("stored tokens belong to another server configuration; ignored")
            lastError = "The stored tokens were issued for another server configuration of '\(connection.id)'; sign in again: jira-auth-agent login \(connection.id)"
            state = .unauthorized
            return
        }
        if let loaded {
            state = .authorized(loaded)
            cache.set(connection.id, loaded, owner: self)
            schedule(for: loaded)
        } else {
            state = .unauthorized
        }
    }

    /// Without tokens, looks in the keyring again: a `login` run outside the agent (no
    /// display, `--no-browser`) stores tokens there. One keyring read (~1 ms).
    private func adoptExternalLogin() async throws {
        switch state {
        case .unauthorized, .needsReauthorization, .revoked: break
        default: return
        }
        guard authorizing == nil else { return }
        let stored: TokenSet?
        do { stored = try await store.load(connection: connection.id) } catch {
            throw KeyringFailure.agentError(error, connection: connection.id)
        }
        guard let stored, authorizing == nil, stored.issuedFor == nil || stored.issuedFor == connection.tokenBinding else { return }
        switch state {
        case .unauthorized, .revoked: break
        case .needsReauthorization:
            // The dead grant's record stays in the keyring for `status`; only a new one counts.
            if stored.refreshToken == deadRefreshToken { return }
        default: return
        }
        logger.info("tokens from a login outside the agent adopted")
        generation += 1
        state = .authorized(stored)
        cache.set(connection.id, stored, owner: self)
        lastError = nil
        schedule(for: stored)
    }

    /// Loads at start-up so that proactive refresh runs without any caller.
    public func start() async {
        do { try await loadIfNeeded() } catch {
            logger.warning("cannot read the keyring at start", metadata: ["error": "\(error)"])
        }
    }

    /// Stops the timers and waits for a refresh in flight to persist its result, so that
    /// a replacement session (reload) never refreshes with an already-rotated token (S6).
    public func shutdown() async {
        stopped = true
        cancelTimer()
        authorizing?.cancel()
        await settleRefresh()
        cancelTimer()
    }

    /// Waits until no refresh is in flight (its outcome, success or not, is already applied).
    private func settleRefresh() async {
        while let refreshing { _ = try? await refreshing.value }
    }

    private func schedule(for tokens: TokenSet) {
        guard proactiveRefresh, !stopped, tokens.refreshToken != nil,
              let at = policy.refreshTime(obtainedAt: tokens.obtainedAt, expiresAt: tokens.expiresAt) else {
            cancelTimer()
            return
        }
        arm(at: at)
    }

    private func arm(at date: Date) {
        guard proactiveRefresh, !stopped else { return }
        timer?.cancel()
        nextRefresh = date
        let clock = self.clock
        timer = Task { [weak self] in
            do { try await clock.sleep(until: date) } catch { return }
            await self?.timerFired()
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
        nextRefresh = nil
    }

    private func timerFired() async {
        timer = nil
        nextRefresh = nil
        guard state.tokens != nil else { return }
        _ = try? await refresh()
    }

    public func status() -> SessionStatus {
        var account: String? = state.tokens?.account
        if case .needsReauthorization(_, let a) = state { account = a }
        return SessionStatus(
            connection: connection.id, name: connection.name, state: state.name, account: account,
            expiresAt: state.tokens?.expiresAt, nextRefresh: nextRefresh, lastRefresh: lastRefresh,
            lastError: lastError, hasRefreshToken: state.tokens?.refreshToken != nil,
            jiraURL: connection.jiraURL.absoluteString, apiURL: connection.apiBaseURL.absoluteString,
            origin: connection.origin.isGlobal ? "global" : "user", isDefault: connection.isDefault,
            insecureLoopbackHTTP: connection.usesInsecureLoopbackHTTP,
            authorizationPrompt: prompt.withLockedValue { $0 })
    }

    private func identity(account: String?) -> ItemIdentity {
        ItemIdentity(connection: connection.id, jiraURL: connection.jiraURL.absoluteString, account: account,
                     label: "Jira tokens — \(connection.name)")
    }

    private func authorizationRequired() -> AgentError {
        let reason: String
        if case .needsReauthorization(let r, _) = state { reason = " (\(r))" } else { reason = "" }
        return AgentError(.authorizationRequired, "Jira access for '\(connection.id)' needs authorization\(reason). Run: jira-auth-agent login \(connection.id)")
    }

    private func revokedDuringWork() -> AgentError {
        AgentError(.authorizationRequired, "Access for '\(connection.id)' was revoked while the request was in progress. Run: jira-auth-agent login \(connection.id)")
    }
}
