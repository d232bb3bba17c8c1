import FoundationEssentials
import OAuth

/// The rules of one connection's session (DESIGN §5, SECURITY S6, S12, S15, S17) as a
/// value: events in, actions out. No I/O and no clock of its own — every event carries
/// `now` — so every rule is unit-tested without sockets, keyring or sleeping
/// (`SessionMachineTests`). `Session` is the actor that carries the actions out.
///
/// The invariants it keeps:
/// - a rotated set is saved before anyone gets it; a failed save never loses it (held,
///   served while valid, retried with back-off, on unlock and at shutdown);
/// - a revoke is a barrier: from the request on nothing is handed out, refreshed or saved;
/// - every refresh trigger (timer, caller, a gateway's 401) shares one back-off and a
///   minimum interval, so a connection makes a handful of token requests a minute at most;
/// - only an OAuth error from the token endpoint ends a grant, after the keyring was read
///   again; an older set never replaces a newer one.
struct SessionMachine: Sendable {
    let connection: String
    let binding: String
    let policy: RefreshPolicy
    /// Timers are armed only in the agent; a CLI process must never start a refresh it
    /// cannot see through to the keyring.
    let proactive: Bool
    /// This session's share of the refresh window's jitter, 0…1, fixed per session so that
    /// many agents spread out while the rules stay deterministic.
    let jitter: Double

    private(set) var state: State = .unloaded
    /// Work in flight (set by the rules in this type's extensions only).
    var running: Set<Work> = []
    /// The shared breaker of every refresh trigger.
    private(set) var lastTokenRequest: Date?
    private(set) var refreshFailures = 0
    private(set) var refreshNotBefore: Date?
    private(set) var lastRefresh: Date?
    private(set) var lastError: String?
    /// A server problem the user should know about (an absurd `expires_in`).
    private(set) var serverNote: String?
    /// Set at shutdown (and when a reload replaces the session): no refresh, sign-in or
    /// timer any more; what is held is still served while valid, and saved.
    private(set) var stopping = false

    init(connection: String, binding: String, policy: RefreshPolicy, proactive: Bool, jitter: Double) {
        self.connection = connection
        self.binding = binding
        self.policy = policy
        self.proactive = proactive
        self.jitter = min(max(jitter, 0), 1)
    }

    // MARK: Callers

    /// A caller wants a token valid for `minValid` seconds. `waited` is the work this
    /// caller already waited on (it is never started again for it), `failure` what the
    /// last of it ended with.
    mutating func tokenWanted(minValid: TimeInterval, interactive: Bool, now: Date,
                              waited: Set<Work> = [], failure: AgentError? = nil) -> (Answer, [Action]) {
        switch state {
        case .unloaded:
            return firstLoad(waited: waited, failure: failure)
        case .loading:
            return (.wait(.load), [])
        case .revoking:
            return (.fail(AgentError(.authorizationRequired, "Access for '\(connection)' is being revoked; no token is handed out. To use it again afterwards: jira-auth-agent login \(connection)")), [])
        case .revoked(let revoked):
            // A sign-in made by another process after the revocation is picked up.
            if !waited.contains(.load), !running.contains(.save) {
                return join(.load, [.load(purpose: .lookForNewer)])
            }
            // A finished revocation is over: the next interactive caller signs in again. An
            // unfinished one comes first — a new sign-in's save would replace its record.
            if revoked.unconfirmed.isEmpty, revoked.pendingWrite == nil {
                return authorizeOrFail(interactive: interactive, waited: waited, failure: failure, absence: .none)
            }
            return (.fail(AgentError(.authorizationRequired, "Access for '\(connection)' was revoked, but the revocation is not finished; run it again first: jira-auth-agent revoke \(connection)")), [])
        case .unauthorized(let absence):
            if !waited.contains(.load), !running.contains(.authorize) {
                return join(.load, [.load(purpose: .lookForNewer)])
            }
            return authorizeOrFail(interactive: interactive, waited: waited, failure: failure, absence: absence)
        case .authorizing(let previous, let absence):
            if let previous, previous.tokens.isValid(for: effectiveMinValid(minValid, previous.tokens), at: now) {
                return (.serve(previous.tokens), [])
            }
            return authorizeOrFail(interactive: interactive, waited: waited, failure: failure, absence: absence)
        case .authorized(let grant), .refreshing(let grant):
            return fromGrant(grant, minValid: minValid, interactive: interactive, now: now, waited: waited, failure: failure)
        case .checkingRefusal(let grant, _):
            if grant.tokens.isValid(for: effectiveMinValid(minValid, grant.tokens), at: now) { return (.serve(grant.tokens), []) }
            if !waited.contains(.load) { return (.wait(.load), []) }
            return (.fail(failure ?? authorizationRequired(.none)), [])
        }
    }

    private mutating func fromGrant(_ grant: Grant, minValid: TimeInterval, interactive: Bool, now: Date,
                                    waited: Set<Work>, failure: AgentError?) -> (Answer, [Action]) {
        let tokens = grant.tokens
        // S6: a set whose save is in flight is handed out only once it is saved (or failed).
        if case .saving = grant.persistence, !waited.contains(.save) { return (.wait(.save), []) }
        if tokens.isValid(for: effectiveMinValid(minValid, tokens), at: now) { return (.serve(tokens), []) }
        if running.contains(.refresh), !waited.contains(.refresh) { return (.wait(.refresh), []) }
        if !waited.contains(.refresh), mayRefresh(grant, now: now, urgent: !tokens.isValid(for: 0, at: now)) {
            return beginRefresh(grant, now: now)
        }
        // The freshest token there is, while it lasts: refreshing again would not help.
        if tokens.isValid(for: 1, at: now) { return (.serve(tokens), []) }
        if tokens.refreshToken == nil || waited.contains(.refresh) && failure?.code == .authorizationRequired {
            return authorizeOrFail(interactive: interactive, waited: waited, failure: failure, absence: .none)
        }
        let when = refreshNotBefore.map { " The agent retries in \(Int(max(0, $0.timeIntervalSince(now)).rounded(.up))) s." } ?? ""
        return (.fail(failure ?? AgentError(.transient, "The access token of '\(connection)' has expired and could not be renewed yet (\(lastError ?? "waiting to retry")).\(when)")), [])
    }

    private mutating func authorizeOrFail(interactive: Bool, waited: Set<Work>, failure: AgentError?,
                                          absence: Absence) -> (Answer, [Action]) {
        if running.contains(.authorize), interactive, !waited.contains(.authorize) { return (.wait(.authorize), []) }
        if interactive, !waited.contains(.authorize), !running.contains(.authorize) {
            return beginAuthorization()
        }
        if let failure, waited.contains(.authorize) || waited.contains(.refresh) { return (.fail(failure), []) }
        return (.fail(authorizationRequired(absence)), [])
    }

    /// Start-up: read the keyring, nothing more. A due refresh follows from the timer, in
    /// the agent only — never from a command-line process (`status` with the agent down).
    mutating func loadWanted() -> [Action] {
        guard case .unloaded = state else { return [] }
        return firstLoad(waited: [], failure: nil).1
    }

    /// The keyring's first read (again after it failed) — unless this caller already waited
    /// on a read that failed: then that failure is its answer.
    private mutating func firstLoad(waited: Set<Work>, failure: AgentError?) -> (Answer, [Action]) {
        if let failure, waited.contains(.load) { return (.fail(failure), []) }
        state = .loading
        return start(.load, [.load(purpose: .start)])
    }

    /// The one authorization (explicit `login`, or a caller that may wait for it).
    mutating func authorizationWanted(waited: Set<Work> = [], failure: AgentError? = nil) -> (Answer, [Action]) {
        switch state {
        case .unloaded:
            // What the keyring holds first: an unfinished revocation, the account to keep.
            return firstLoad(waited: waited, failure: failure)
        case .revoking:
            return (.fail(AgentError(.authorizationRequired, "Access for '\(connection)' is being revoked; sign in once the revocation has finished.")), [])
        case .loading:
            return (.wait(.load), [])
        case .revoked(let revoked) where !revoked.unconfirmed.isEmpty || revoked.pendingWrite != nil:
            return (.fail(AgentError(.authorizationRequired, "The revocation of '\(connection)' is not finished; run it again first: jira-auth-agent revoke \(connection)")), [])
        default:
            if running.contains(.authorize) { return (.wait(.authorize), []) }
            // A rotated set still being saved is saved before starting over (S6).
            if running.contains(.save) || running.contains(.refresh) { return (.wait(running.contains(.save) ? .save : .refresh), []) }
            return beginAuthorization()
        }
    }

    /// Shutdown begins: nothing new starts; the writes still owed follow (`shutdownWrites`).
    mutating func stop() { stopping = true }

    private mutating func beginAuthorization() -> (Answer, [Action]) {
        if stopping { return (.fail(AgentError(.authorizationRequired, "The agent is stopping; sign in once it runs again: jira-auth-agent login \(connection)")), []) }
        var absence = Absence.none
        if case .unauthorized(let a) = state { absence = a }
        if case .revoked = state { absence = .none }
        state = .authorizing(previous: state.grant, absence: absence)
        return start(.authorize, [.authorize])
    }

    // MARK: Refresh rules

    /// `tokens` as the refresh schedule sees them: a lifetime below `policy.lifetimeFloor`
    /// counts as the floor (S15: `expires_in` 0 or 1 must not refresh in a loop). Validity is
    /// always the server's: a token it calls expired is never handed out.
    func floored(_ tokens: TokenSet) -> TokenSet {
        guard let expiresAt = tokens.expiresAt, expiresAt.timeIntervalSince(tokens.obtainedAt) < policy.lifetimeFloor else { return tokens }
        var tokens = tokens
        tokens.expiresAt = tokens.obtainedAt.addingTimeInterval(policy.lifetimeFloor)
        return tokens
    }

    /// A caller needs no more than half the token's lifetime: with 5-minute tokens,
    /// `min_valid = 600` would otherwise refresh on every call.
    func effectiveMinValid(_ minValid: TimeInterval, _ tokens: TokenSet) -> TimeInterval {
        let tokens = floored(tokens)
        guard let expiresAt = tokens.expiresAt else { return minValid }
        let lifetime = expiresAt.timeIntervalSince(tokens.obtainedAt)
        return lifetime > 0 ? min(minValid, lifetime / 2) : minValid
    }

    /// Whether a token request may go out now: a refresh token, the shared minimum interval
    /// and back-off passed, and — while a save is pending — only when the token is about
    /// to expire (each refresh would rotate another set the keyring cannot take).
    func mayRefresh(_ grant: Grant, now: Date, urgent: Bool = false) -> Bool {
        guard !stopping, grant.tokens.refreshToken != nil, !running.contains(.refresh), !running.contains(.save) else { return false }
        if let notBefore = refreshNotBefore, now < notBefore { return false }
        if let last = lastTokenRequest, now.timeIntervalSince(last) < policy.minimumInterval { return false }
        if case .pending = grant.persistence {
            return urgent || !grant.tokens.isValid(for: policy.urgentWindow, at: now)
        }
        return true
    }

    private mutating func beginRefresh(_ grant: Grant, now: Date) -> (Answer, [Action]) {
        state = .refreshing(grant)
        lastTokenRequest = now
        return start(.refresh, [.refresh(grant.tokens)])
    }

    /// The gateway refused `rejected` as `invalid_token` (or, when the expiry is only
    /// assumed, with a plain 401): one refresh for everyone who saw that token, within the
    /// shared interval; otherwise the current token, and the 401 goes back to the caller.
    mutating func tokenRejected(_ rejected: String, plain: Bool, now: Date, waited: Set<Work> = [],
                                failure: AgentError? = nil) -> (Answer, [Action]) {
        switch state {
        case .refreshing where !waited.contains(.refresh):
            return (.wait(.refresh), [])
        case .authorized(let grant):
            // S6: a set still being saved is handed out once saved, as to any caller.
            if case .saving = grant.persistence, !waited.contains(.save) { return (.wait(.save), []) }
            if grant.tokens.accessToken != rejected { return (.serve(grant.tokens), []) }
            if plain, grant.tokens.expiryAssumed != true { return (.serve(grant.tokens), []) }
            if !waited.contains(.refresh), mayRefresh(grant, now: now, urgent: true) { return beginRefresh(grant, now: now) }
            return (.serve(grant.tokens), [])
        default:
            return tokenWanted(minValid: 0, interactive: false, now: now, waited: waited, failure: failure)
        }
    }

    // MARK: Timers

    /// When the session next needs a timer: the proactive refresh (pushed back by the
    /// breaker), a save retry, a revocation's keyring write retry. `nil`: no wake-up at all.
    var wakeUp: Date? {
        guard proactive, !stopping else { return nil }
        switch state {
        case .authorized(let grant):
            var times: [Date] = []
            if case .pending(_, let retryAt) = grant.persistence, !running.contains(.save), !running.contains(.refresh) {
                times.append(retryAt)
            }
            if grant.tokens.refreshToken != nil, !running.contains(.refresh), !running.contains(.save),
               let at = refreshTime(grant) {
                times.append(at)
            }
            return times.min()
        case .revoked(let revoked):
            return revoked.pendingWrite == nil || running.contains(.revocation) ? nil : revoked.retryAt
        default:
            return nil
        }
    }

    /// The proactive refresh time of `grant`, after the breaker's earliest.
    func refreshTime(_ grant: Grant) -> Date? {
        let tokens = floored(grant.tokens)
        guard var at = policy.refreshTime(obtainedAt: tokens.obtainedAt, expiresAt: tokens.expiresAt, random: jitter) else { return nil }
        if case .pending = grant.persistence, let expiresAt = tokens.expiresAt {
            at = max(at, expiresAt.addingTimeInterval(-policy.urgentWindow))
        }
        if let notBefore = refreshNotBefore { at = max(at, notBefore) }
        if let last = lastTokenRequest { at = max(at, last.addingTimeInterval(policy.minimumInterval)) }
        return at
    }

    /// A timer fired: whatever is due runs.
    mutating func timerFired(now: Date) -> [Action] {
        guard proactive, !stopping else { return [] }
        switch state {
        case .authorized(var grant):
            if case .pending(let failures, let retryAt) = grant.persistence, retryAt <= now, !running.contains(.save), !running.contains(.refresh) {
                grant.persistence = .saving(failures: failures)
                state = .authorized(grant)
                return start(.save, [.save(grant.tokens)]).1
            }
            if let at = refreshTime(grant), at <= now, mayRefresh(grant, now: now, urgent: true) {
                return beginRefresh(grant, now: now).1
            }
            return []
        case .revoked(var revoked):
            guard let write = revoked.pendingWrite, let at = revoked.retryAt, at <= now, !running.contains(.revocation) else { return [] }
            revoked.retryAt = nil
            state = .revoked(revoked)
            return start(.revocation, [.writeRevocation(write)]).1
        default:
            return []
        }
    }

    /// The keyring was unlocked (or the agent reloads): a pending save or revocation write
    /// is retried at once, and the keyring is read for a newer set.
    mutating func keyringMayHaveChanged(now: Date) -> [Action] {
        switch state {
        case .authorized(var grant):
            if case .pending(let failures, _) = grant.persistence, !running.contains(.save), !running.contains(.refresh) {
                grant.persistence = .saving(failures: failures)
                state = .authorized(grant)
                return start(.save, [.save(grant.tokens)]).1
            }
            guard !running.contains(.load), !running.contains(.save), !running.contains(.refresh) else { return [] }
            return start(.load, [.load(purpose: .lookForNewer)]).1
        case .revoked(var revoked):
            guard let write = revoked.pendingWrite, !running.contains(.revocation) else { return [] }
            revoked.retryAt = nil
            state = .revoked(revoked)
            return start(.revocation, [.writeRevocation(write)]).1
        case .unauthorized:
            guard !running.contains(.load), !running.contains(.authorize) else { return [] }
            return start(.load, [.load(purpose: .lookForNewer)]).1
        default:
            return []
        }
    }

    /// At shutdown: the writes still owed to the keyring (bounded by the store's timeout) —
    /// also a held set whose save failed while a sign-in ran on top of it.
    func shutdownWrites() -> [Action] {
        if case .revoked(let revoked) = state, let write = revoked.pendingWrite, write != .revokeStored {
            return [.writeRevocation(write)]
        }
        if let grant = state.grant, case .pending = grant.persistence { return [.save(grant.tokens)] }
        return []
    }

    // MARK: Helpers

    mutating func start(_ work: Work, _ actions: [Action]) -> (Answer, [Action]) {
        running.insert(work)
        return (.wait(work), actions)
    }

    private mutating func join(_ work: Work, _ actions: [Action]) -> (Answer, [Action]) {
        if running.contains(work) { return (.wait(work), []) }
        return start(work, actions)
    }

    mutating func noteError(_ message: String?) { lastError = message }

    mutating func set(_ state: State) { self.state = state }

    mutating func recordRefreshSuccess(now: Date) {
        refreshFailures = 0
        refreshNotBefore = nil
        lastRefresh = now
    }

    mutating func recordRefreshFailure(now: Date, message: String) {
        refreshFailures += 1
        refreshNotBefore = now.addingTimeInterval(policy.backoff(attempt: refreshFailures, random: jitter))
        lastError = message
    }

    mutating func finish(_ work: Work) { running.remove(work) }

    mutating func noteServer(_ note: String?) { serverNote = note }

    func authorizationRequired(_ absence: Absence) -> AgentError {
        switch absence {
        case .needsReauthorization(let reason, _, _):
            return AgentError(.authorizationRequired, "Jira access for '\(connection)' needs authorization (\(reason)). Run: jira-auth-agent login \(connection)")
        case .otherServer:
            return AgentError(.authorizationRequired, "The stored tokens of '\(connection)' were issued for another server configuration; sign in again: jira-auth-agent login \(connection)")
        case .none:
            return AgentError(.authorizationRequired, "Jira access for '\(connection)' needs authorization. Run: jira-auth-agent login \(connection)")
        }
    }
}
