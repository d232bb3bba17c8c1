public import FoundationEssentials
import Keyring
import Logging
import NIOConcurrencyHelpers
public import OAuth

/// One connection's tokens (DESIGN §5): the actor that carries out what its rules —
/// `SessionMachine`, a value tested without I/O — decide. It runs the I/O each action
/// names (keyring, token endpoint, browser, revocation), feeds each result back as an
/// event, and lets callers wait on the work in progress (single flight: a hundred callers
/// cause one keyring read, one refresh, one browser tab).
public actor Session {
    public nonisolated let connection: Connection
    let client: ConnectionOAuthClient
    let store: any TokenStore
    let authorizer: Authorizer
    let cache: TokenCache
    let clock: any WallClock
    let notifier: Notifier
    let logger: Logger
    /// The agent's timer; `nil` in CLI processes, which never refresh on their own.
    let scheduler: RefreshScheduler?
    let revocations: RevocationRecords

    private var machine: SessionMachine
    /// Callers waiting for work to end, and how each work last ended.
    private var waiters: [SessionMachine.Work: [CheckedContinuation<Void, Never>]] = [:]
    private var outcomes: [SessionMachine.Work: AgentError] = [:]
    /// How the authorization in progress runs (its caller's mode, prompt and line reader).
    private var authorization = AuthorizationContext.background
    private var authorizationTask: Task<Void, Never>?
    private var scheduledAt: Date?
    /// What the person must do for the authorization in progress (open this URL, enter this
    /// code), shown by `status` so that `login` through the agent can print it.
    private let prompt = NIOLockedValueBox<String?>(nil)

    struct AuthorizationContext: Sendable {
        var mode: Authorizer.Mode?
        var announce: Authorizer.Announce?
        var readLine: Authorizer.ReadLine?
        var allowAccountSwitch = false
        static let background = AuthorizationContext()
    }

    init(connection: Connection, client: ConnectionOAuthClient, store: any TokenStore, authorizer: Authorizer,
         cache: TokenCache, clock: any WallClock, policy: RefreshPolicy, notifier: Notifier, logger: Logger,
         scheduler: RefreshScheduler?, revocations: RevocationRecords = RevocationRecords()) {
        self.connection = connection
        self.client = client
        self.store = store
        self.authorizer = authorizer
        self.cache = cache
        self.clock = clock
        self.notifier = notifier
        self.scheduler = scheduler
        self.revocations = revocations
        var logger = logger
        logger[metadataKey: "connection"] = "\(connection.id)"
        self.logger = logger
        self.machine = SessionMachine(connection: connection.id, binding: connection.tokenBinding, policy: policy,
                                      proactive: scheduler != nil, jitter: Double.random(in: 0...1))
    }

    // MARK: Callers

    /// A token valid for `minValid` seconds: from memory, else a refresh, else (when
    /// `interactive`) the one authorization in progress.
    public func accessToken(minValid: TimeInterval, interactive: Bool) async throws -> TokenSet {
        try await answer { waited, failure in
            machine.tokenWanted(minValid: minValid, interactive: interactive, now: clock.now(), waited: waited, failure: failure)
        }
    }

    /// The gateway refused `rejected` (401 `invalid_token`, or a plain 401 when the expiry
    /// is only assumed): one refresh for everyone who saw that token, within the shared
    /// interval; otherwise the current token.
    public func refreshAfterRejection(rejected: String, plain: Bool = false) async throws -> TokenSet {
        try await answer { waited, failure in
            machine.tokenRejected(rejected, plain: plain, now: clock.now(), waited: waited, failure: failure)
        }
    }

    /// Runs (or joins) the interactive authorization; the tokens are saved (or, with the
    /// keyring locked, held and saved later) before it returns.
    public func authorize(mode: Authorizer.Mode, announce: @escaping Authorizer.Announce, readLine: Authorizer.ReadLine? = nil,
                          allowAccountSwitch: Bool = false) async throws -> TokenSet {
        let prompt = self.prompt
        let context = AuthorizationContext(mode: mode, announce: { line in
            prompt.withLockedValue { $0 = line }
            announce(line)
        }, readLine: readLine, allowAccountSwitch: allowAccountSwitch)
        return try await answer { waited, failure in
            if waited.contains(.authorize) {
                // The sign-in ended: its tokens once saved (a save waited on before the
                // sign-in was another set's), or its failure.
                if let failure { return (.fail(failure), []) }
                return machine.tokenWanted(minValid: 0, interactive: false, now: clock.now(), waited: [.authorize], failure: nil)
            }
            if !machine.running.contains(.authorize) { authorization = context }
            return machine.authorizationWanted(waited: waited, failure: failure)
        }
    }

    /// Revokes at the server (refresh token first, RFC 7009 §2.1), then deletes the keyring
    /// item, or keeps it marked when the server did not confirm (`revoke` again finishes it).
    public func revoke() async throws -> RevocationReport {
        // At most twice: a keyring retry of the last revocation may have to end first.
        for _ in 0..<2 {
            var retryUnderWay = false
            if case .revoked = machine.state, machine.running.contains(.revocation) { retryUnderWay = true }
            let (answer, actions) = machine.revokeRequested(now: clock.now())
            perform(actions)
            afterEvent()
            switch answer {
            case .fail(let error): throw error
            case .serve: break
            case .wait(let work): await wait(for: work)
            }
            if !retryUnderWay { break }
        }
        guard let report = machine.revocationReport else {
            throw AgentError(.internalError, "the revocation of '\(connection.id)' ended without a report")
        }
        logger.info("revoked", metadata: ["server_confirmed": "\(report.uncertain.isEmpty)", "keyring_pending": "\(report.keyringPending)"])
        return report
    }

    /// Asks the machine, carries out its actions, waits on the work it names, and asks
    /// again — each work at most once per call, so the loop ends.
    private func answer(_ ask: (Set<SessionMachine.Work>, AgentError?) -> (SessionMachine.Answer, [SessionMachine.Action])) async throws -> TokenSet {
        var waited: Set<SessionMachine.Work> = []
        var failure: AgentError?
        var waits = 0
        while true {
            let (answer, actions) = ask(waited, failure)
            perform(actions)
            afterEvent()
            switch answer {
            case .serve(let tokens): return tokens
            case .fail(let error): throw error
            case .wait(let work):
                // Each kind of work is waited on about once per call (the rules never start
                // one again for a caller that waited on it); the count bounds the loop anyway.
                waits += 1
                guard waits <= 8 else {
                    throw AgentError(.internalError, "the session of '\(connection.id)' kept asking its caller to wait")
                }
                waited.insert(work)
                await wait(for: work)
                failure = outcomes[work]
            }
        }
    }

    // MARK: Carrying out actions

    private func perform(_ actions: [SessionMachine.Action]) {
        for action in actions {
            switch action {
            case .load:
                Task { await self.runLoad() }
            case .refresh(let tokens):
                Task { await self.runRefresh(tokens) }
            case .save(let tokens):
                Task { await self.runSave(tokens) }
            case .authorize:
                let context = authorization
                authorization = .background
                authorizationTask = Task { await self.runAuthorization(context) }
            case .cancelAuthorization:
                authorizationTask?.cancel()
            case .revokeAtServer(let sets):
                Task { await self.runServerRevocation(sets) }
            case .discard(let tokens):
                Task { [client, logger] in
                    let report = await Revoker(client: client, logger: logger).revoke(tokens)
                    logger.info("discarded sign-in revoked at the server", metadata: ["confirmed": "\(report.uncertain.isEmpty)"])
                }
            case .writeRevocation(let write):
                Task { await self.runRevocationWrite(write) }
            case .publish(let tokens):
                cache.set(connection.id, tokens, owner: self)
            case .unpublish:
                cache.remove(connection.id, owner: self)
            case .notify(let notice):
                send(notice)
            case .recordRevocation(let at):
                revocations.record(connection.id, at: at)
            case .clearRevocationRecord:
                revocations.clear(connection.id)
            }
        }
    }

    /// Applies a result event: its actions are carried out, waiters whose work ended resume.
    private func apply(_ work: SessionMachine.Work, failure: AgentError?, _ event: (inout SessionMachine, Date) -> [SessionMachine.Action]) {
        if let failure { outcomes[work] = failure } else { outcomes[work] = nil }
        let actions = event(&machine, clock.now())
        perform(actions)
        afterEvent()
    }

    private func afterEvent() {
        for (work, list) in waiters where !machine.running.contains(work) {
            waiters[work] = nil
            for waiter in list { waiter.resume() }
        }
        syncTimer()
    }

    private func wait(for work: SessionMachine.Work) async {
        guard machine.running.contains(work) else { return }
        await withCheckedContinuation { waiters[work, default: []].append($0) }
    }

    private func runLoad() async {
        do {
            let stored = try await readStored()
            apply(.load, failure: nil) { $0.loaded(stored, now: $1) }
        } catch {
            let failure = KeyringFailure.agentError(error, connection: connection.id)
            apply(.load, failure: failure) { $0.loadFailed(failure, now: $1) }
        }
    }

    private func runRefresh(_ tokens: TokenSet) async {
        do {
            let fresh = try await client.refresh(tokens, now: clock.now())
            logger.info("refreshed", metadata: ["expires_at": "\(fresh.expiresAt.flatMap(EpochSeconds.of) ?? 0)"])
            apply(.refresh, failure: nil) { $0.refreshed(fresh, now: $1) }
        } catch {
            let failure = Self.refreshFailure(error, connection: connection.id)
            logger.info("refresh failed", metadata: ["code": "\(failure.code.rawValue)"])
            apply(.refresh, failure: failure) { $0.refreshFailed(failure, now: $1) }
        }
    }

    /// The keyring item, as the rules must see it: a set obtained before a revocation that
    /// is not settled in the keyring yet (`RevocationRecords`) is that revocation's, never
    /// tokens to use.
    private func readStored() async throws -> TokenSet? {
        guard var stored = try await store.load(connection: connection.id) else { return nil }
        if stored.revocationPending != true, let revokedAt = revocations.revokedAt(connection.id), stored.obtainedAt <= revokedAt {
            stored.revocationPending = true
        }
        return stored
    }

    /// Only an OAuth verdict from the token endpoint (`authorizationRequired`) ends a grant;
    /// every other failure of a refresh is transient (S15).
    static func refreshFailure(_ error: any Error, connection: String) -> AgentError {
        if let agent = error as? AgentError {
            if agent.code == .authorizationRequired || agent.code == .transient { return agent }
            return AgentError(.transient, agent.message, underlying: agent)
        }
        return AgentError(.transient, "The token endpoint of '\(connection)' could not be reached (\(error)). The agent will retry.")
    }

    /// Saves `tokens` unless the keyring already holds a newer set (another process signed
    /// in): an older set never overwrites a newer one.
    private func runSave(_ tokens: TokenSet) async {
        do {
            if let stored = try await readStored(), stored.revocationPending != true,
               SessionMachine.supersedes(stored, tokens) {
                logger.info("the keyring holds a newer token set; using it")
                apply(.save, failure: nil) { $0.newerStored(stored, now: $1) }
                return
            }
            try await store.save(tokens, for: identity(account: tokens.account))
            apply(.save, failure: nil) { $0.saved(tokens, now: $1) }
        } catch {
            let failure = KeyringFailure.agentError(error, connection: connection.id)
            logger.warning("saving the tokens failed; they are kept in memory", metadata: ["code": "\(failure.code.rawValue)"])
            apply(.save, failure: failure) { $0.saveFailed(tokens, failure, now: $1) }
        }
    }

    private func runAuthorization(_ context: AuthorizationContext) async {
        let mode = context.mode ?? (authorizer.launcher.canOpen ? .browser : .noBrowser)
        let announce = context.announce ?? { [logger, prompt] line in
            // The prompt holds the one-time start URL: not for the journal (`status` shows it
            // to the user over the private socket).
            prompt.withLockedValue { $0 = line }
            logger.notice("authorization needed: a browser sign-in was started; `jira-auth-agent status` shows its URL")
        }
        defer { prompt.withLockedValue { $0 = nil } }
        do {
            var tokens = try await authorizer.authorize(client: client, mode: mode, announce: announce, readLine: context.readLine)
            tokens.account = await AccountLookup(client: client, logger: logger).account(with: tokens)
            let signedIn = tokens
            var refusal: AgentError?
            apply(.authorize, failure: nil) { machine, now in
                let (actions, error) = machine.authorized(signedIn, allowAccountSwitch: context.allowAccountSwitch, now: now)
                refusal = error
                return actions
            }
            // (No suspension since `apply`: the callers it resumed read this outcome.)
            if let refusal { outcomes[.authorize] = refusal }
            logger.info("authorized", metadata: ["account": "\(tokens.account ?? "-")", "kept": "\(refusal == nil)"])
        } catch {
            let failure = (error as? AgentError) ?? AgentError(.authorizationFailed, "The sign-in for '\(connection.id)' failed: \(error)")
            apply(.authorize, failure: failure) { $0.authorizationFailed(failure, now: $1) }
        }
    }

    /// Token kinds in the order RFC 7009 §2.1 revokes them.
    private static let kinds = ["refresh_token", "access_token"]

    private func runServerRevocation(_ sets: [TokenSet]) async {
        let revoker = Revoker(client: client, logger: logger)
        var report = RevocationReport(connection: connection.id)
        for tokens in sets {
            let one = await revoker.revoke(tokens)
            report.noEndpoint = report.noEndpoint || one.noEndpoint
            report.uncertain = Self.kinds.filter { report.uncertain.contains($0) || one.uncertain.contains($0) }
            report.revoked = Self.kinds.filter { (report.revoked.contains($0) || one.revoked.contains($0)) && !report.uncertain.contains($0) }
        }
        let result = report
        apply(.revocation, failure: nil) { $0.serverRevoked(result, now: $1) }
    }

    private func runRevocationWrite(_ write: SessionMachine.KeyringRevocation) async {
        do {
            switch write {
            case .delete:
                let existed = try await store.delete(connection: connection.id)
                apply(.revocation, failure: nil) { $0.keyringWritten(write, existed: existed, now: $1) }
            case .markPending(let tokens):
                var item = identity(account: tokens.account)
                item.label += " (revocation pending)"
                try await store.save(tokens, for: item)
                apply(.revocation, failure: nil) { $0.keyringWritten(write, existed: true, now: $1) }
            case .revokeStored:
                let stored = try await readStored()
                apply(.revocation, failure: nil) { $0.loaded(stored, now: $1) }
            }
        } catch {
            let failure = KeyringFailure.agentError(error, connection: connection.id)
            if write == .revokeStored {
                apply(.revocation, failure: failure) { $0.loadFailed(failure, now: $1) }
            } else {
                apply(.revocation, failure: failure) { $0.keyringWriteFailed(write, failure, now: $1) }
            }
        }
    }

    private func send(_ notice: SessionMachine.Notice) {
        switch notice {
        case .signInNeeded:
            logger.warning("refresh refused; authorization needed")
            let logger = self.logger
            notifier.send(.init(key: "\(connection.id)/access", summary: "Jira access for \(connection.name) expired",
                                body: "Sign in again: click Sign in, or run jira-auth-agent login \(connection.id)",
                                action: ("Sign in", { [weak self] in
                                    Task {
                                        do { _ = try await self?.authorize(mode: .browser, announce: { _ in }) } catch {
                                            logger.notice("sign-in from the notification failed", metadata: ["error": "\(error)"])
                                        }
                                    }
                                })))
        case .keyringCannotSave:
            notifier.send(.init(key: "\(connection.id)/keyring", summary: "Jira tokens for \(connection.name) not saved",
                                body: "The login keyring is locked: unlock it (it usually unlocks when you log in to the desktop). The agent keeps the tokens in memory and saves them then; `jira-auth-agent status` shows more."))
        case .serverLifetime(let note):
            logger.warning("authorization server token lifetime", metadata: ["note": "\(note)"])
        }
    }

    // MARK: Timers, start, reload, shutdown

    private func syncTimer() {
        guard let scheduler, !machine.stopping else { return }
        let next = machine.wakeUp
        guard next != scheduledAt else { return }
        scheduledAt = next
        scheduler.schedule(ObjectIdentifier(self), at: next) { [weak self] in await self?.timerFired() }
    }

    private func timerFired() {
        scheduledAt = nil
        perform(machine.timerFired(now: clock.now()))
        afterEvent()
    }

    /// Loads at start-up so that proactive refresh runs without any caller.
    public func start() async {
        perform(machine.loadWanted())
        afterEvent()
        await wait(for: .load)
        if let failure = outcomes[.load] {
            logger.warning("cannot read the keyring at start", metadata: ["code": "\(failure.code.rawValue)"])
        }
    }

    /// The keyring may have changed (SIGHUP, an unlock, a `login` outside the agent): a
    /// pending save or revocation write goes now, and a newer set in it is used.
    public func keyringMayHaveChanged() {
        perform(machine.keyringMayHaveChanged(now: clock.now()))
        afterEvent()
    }

    /// Stops the timer, lets work in flight end, and writes what the keyring still owes
    /// (a pending save or revocation), each bounded by the store's time limit, so that a
    /// replacement session (reload) or the next start never uses an already-rotated token.
    public func shutdown() async {
        machine.stop()   // no refresh, sign-in or timer from now on
        scheduler?.schedule(ObjectIdentifier(self), at: nil) { }
        scheduledAt = nil
        authorizationTask?.cancel()
        // Every work in flight ends first (each is bounded: keyring calls, HTTP timeouts, the
        // cancelled sign-in), so what it produced is among the writes owed below.
        while let work = SessionMachine.Work.allCases.first(where: { machine.running.contains($0) }) {
            await wait(for: work)
        }
        for action in machine.shutdownWrites() {
            switch action {
            case .save(let tokens): await runSave(tokens)
            case .writeRevocation(let write): await runRevocationWrite(write)
            default: break
            }
        }
    }

    public func status() -> SessionStatus {
        let grant = machine.state.grant
        var account = grant?.tokens.account
        if case .unauthorized(.needsReauthorization(_, let a, _)) = machine.state { account = a }
        var savePending = false
        if case .pending = grant?.persistence { savePending = true }
        var revocationPending = false
        if case .revoked(let revoked) = machine.state { revocationPending = !revoked.unconfirmed.isEmpty || revoked.pendingWrite != nil }
        return SessionStatus(
            connection: connection.id, name: connection.name, state: machine.state.name, account: account,
            expiresAt: grant?.tokens.expiresAt, nextRefresh: machine.wakeUp, lastRefresh: machine.lastRefresh,
            lastError: machine.lastError, hasRefreshToken: grant?.tokens.refreshToken != nil,
            jiraURL: connection.jiraURL.absoluteString, apiURL: connection.apiBaseURL.absoluteString,
            origin: connection.origin.isGlobal ? "global" : "user", isDefault: connection.isDefault,
            insecureLoopbackHTTP: connection.usesInsecureLoopbackHTTP,
            authorizationPrompt: prompt.withLockedValue { $0 },
            savePending: savePending, revocationPending: revocationPending,
            refreshFailures: machine.refreshFailures, retryAt: machine.refreshNotBefore,
            expiryAssumed: grant?.tokens.expiryAssumed == true, serverNote: machine.serverNote)
    }

    private func identity(account: String?) -> ItemIdentity {
        ItemIdentity(connection: connection.id, jiraURL: connection.jiraURL.absoluteString, account: account,
                     label: "Jira tokens — \(connection.name)")
    }
}
