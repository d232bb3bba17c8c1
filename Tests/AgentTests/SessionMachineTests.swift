import FoundationEssentials
import OAuth
import Testing
@testable import Agent

/// The session's rules, driven directly: events in, actions out, time given by hand.
/// Each test is a story a user met (issue 14); none touches a socket or sleeps.
@Suite struct SessionMachineTests {
    typealias M = SessionMachine
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func tokens(_ n: Int, at: Date, lifetime: TimeInterval? = 3600, refresh: Bool = true) -> TokenSet {
        var t = TokenSet(accessToken: "at-\(n)", refreshToken: refresh ? "rt-\(n)" : nil,
                         expiresAt: lifetime.map { at.addingTimeInterval($0) }, obtainedAt: at, account: "alice")
        t.issuedFor = "binding"
        return t
    }

    func machine(proactive: Bool = true) -> M {
        M(connection: "acme", binding: "binding", policy: RefreshPolicy(), proactive: proactive, jitter: 0)
    }

    /// A machine holding `set`, loaded from the keyring.
    func loaded(_ set: TokenSet, proactive: Bool = true) -> M {
        var m = machine(proactive: proactive)
        _ = m.tokenWanted(minValid: 0, interactive: false, now: set.obtainedAt)
        _ = m.loaded(set, now: set.obtainedAt)
        return m
    }

    func served(_ answer: M.Answer) -> TokenSet? { if case .serve(let t) = answer { return t }; return nil }
    func failure(_ answer: M.Answer) -> AgentError? { if case .fail(let e) = answer { return e }; return nil }
    func waits(_ answer: M.Answer) -> M.Work? { if case .wait(let w) = answer { return w }; return nil }
    func refreshes(_ actions: [M.Action]) -> Int { actions.filter { if case .refresh = $0 { return true }; return false }.count }

    // MARK: Loading and single flight

    @Test func callersShareOneLoadAndAreServedFromMemory() {
        var m = machine()
        let (a1, x1) = m.tokenWanted(minValid: 60, interactive: false, now: t0)
        let (a2, x2) = m.tokenWanted(minValid: 60, interactive: false, now: t0)
        #expect(waits(a1) == .load && waits(a2) == .load)
        #expect(x1 == [.load(purpose: .start)] && x2.isEmpty, "one keyring read for both callers")
        let set = tokens(1, at: t0)
        #expect(m.loaded(set, now: t0) == [.publish(set)])
        #expect(served(m.tokenWanted(minValid: 60, interactive: false, now: t0, waited: [.load]).0) == set)
    }

    @Test func startUpOnlyReadsTheKeyring() {
        var m = machine()
        #expect(m.loadWanted() == [.load(purpose: .start)])
        #expect(m.loadWanted().isEmpty, "once")
        let expired = tokens(1, at: t0.addingTimeInterval(-4000), lifetime: 3600)
        #expect(m.loaded(expired, now: t0) == [.publish(expired)], "no refresh from the load itself")
        #expect(m.wakeUp != nil && m.wakeUp! <= t0, "the agent's timer refreshes at once")
        var cli = machine(proactive: false)
        _ = cli.loadWanted()
        _ = cli.loaded(expired, now: t0)
        #expect(cli.wakeUp == nil, "a command-line process does not")
    }

    @Test func aLockedKeyringIsAnErrorNotNoToken() {
        var m = machine()
        _ = m.tokenWanted(minValid: 0, interactive: true, now: t0)
        let locked = AgentError(.keyringLocked, "The login keyring is locked.")
        #expect(m.loadFailed(locked, now: t0).isEmpty)
        let (answer, actions) = m.tokenWanted(minValid: 0, interactive: true, now: t0, waited: [.load], failure: locked)
        #expect(failure(answer)?.code == .keyringLocked)
        #expect(actions.isEmpty, "no browser sign-in over a locked keyring")
    }

    // MARK: Rotation is saved before anyone gets it (S6)

    @Test func aRotatedSetIsSavedBeforeItIsHandedOut() {
        let old = tokens(1, at: t0, lifetime: 300)
        var m = loaded(old)
        let later = t0.addingTimeInterval(290)
        let (a, x) = m.tokenWanted(minValid: 60, interactive: false, now: later)
        #expect(waits(a) == .refresh && x == [.refresh(old)])
        let fresh = tokens(2, at: later, lifetime: 300)
        let afterRefresh = m.refreshed(fresh, now: later)
        #expect(afterRefresh == [.save(fresh)], "saved first, not published")
        #expect(waits(m.tokenWanted(minValid: 60, interactive: false, now: later, waited: [.refresh]).0) == .save)
        #expect(m.saved(fresh, now: later) == [.publish(fresh)])
        #expect(served(m.tokenWanted(minValid: 60, interactive: false, now: later, waited: [.refresh, .save]).0) == fresh)
    }

    @Test func aFailedSaveKeepsTheSetServesItAndRetries() {
        let old = tokens(1, at: t0, lifetime: 1000)
        var m = loaded(old)
        let at = t0.addingTimeInterval(950)
        _ = m.tokenWanted(minValid: 60, interactive: false, now: at)
        let fresh = tokens(2, at: at, lifetime: 1000)
        _ = m.refreshed(fresh, now: at)
        let locked = AgentError(.keyringLocked, "The login keyring is locked.")
        let actions = m.saveFailed(fresh, locked, now: at)
        #expect(actions == [.publish(fresh), .notify(.keyringCannotSave)], "held and served, the user told")
        #expect(served(m.tokenWanted(minValid: 60, interactive: false, now: at, waited: [.save]).0) == fresh)
        // No further refresh while the save is pending, unless the token is about to expire:
        // 50 s left is inside the refresh window (100 s) but not the urgent one (30 s).
        let (a, x) = m.tokenWanted(minValid: 60, interactive: false, now: at.addingTimeInterval(950))
        #expect(served(a) == fresh && refreshes(x) == 0, "no refresh while the save is pending")
        // The retry is the next wake-up, and a timer carries it out.
        let retry = at.addingTimeInterval(RefreshPolicy().saveRetry(attempt: 1))
        #expect(m.wakeUp == retry)
        #expect(m.timerFired(now: retry) == [.save(fresh)])
        #expect(m.saveFailed(fresh, locked, now: retry) == [.publish(fresh)], "told once")
        // Unlocking retries at once; the save lands.
        #expect(m.keyringMayHaveChanged(now: retry.addingTimeInterval(1)) == [.save(fresh)])
        #expect(m.saved(fresh, now: retry.addingTimeInterval(1)) == [.publish(fresh)])
        #expect(m.shutdownWrites().isEmpty)
    }

    @Test func aPendingSaveIsWrittenAtShutdown() {
        var m = loaded(tokens(1, at: t0, lifetime: 100))
        _ = m.tokenWanted(minValid: 60, interactive: false, now: t0.addingTimeInterval(90))
        let fresh = tokens(2, at: t0.addingTimeInterval(90))
        _ = m.refreshed(fresh, now: t0.addingTimeInterval(90))
        _ = m.saveFailed(fresh, AgentError(.keyringLocked, "locked"), now: t0.addingTimeInterval(90))
        #expect(m.shutdownWrites() == [.save(fresh)])
    }

    @Test func whileASaveIsPendingTheTokenIsRefreshedOnlyNearExpiry() {
        var m = loaded(tokens(1, at: t0, lifetime: 1000))
        let at = t0.addingTimeInterval(950)
        _ = m.tokenWanted(minValid: 60, interactive: false, now: at)
        let fresh = tokens(2, at: at, lifetime: 100)
        _ = m.refreshed(fresh, now: at)
        _ = m.saveFailed(fresh, AgentError(.keyringLocked, "locked"), now: at)
        let near = at.addingTimeInterval(80)   // 20 s left, inside the urgent window
        #expect(m.tokenWanted(minValid: 60, interactive: false, now: near).1 == [.refresh(fresh)])
    }

    @Test func anOlderSetNeverOverwritesANewerOne() {
        let mine = tokens(1, at: t0)
        let theirs = tokens(2, at: t0.addingTimeInterval(5))
        #expect(M.supersedes(theirs, mine))
        #expect(!M.supersedes(mine, theirs))
        #expect(!M.supersedes(mine, mine))
        var m = loaded(tokens(0, at: t0.addingTimeInterval(-4000), lifetime: 3600))
        _ = m.tokenWanted(minValid: 60, interactive: false, now: t0)
        _ = m.refreshed(mine, now: t0)
        // The save found a newer set (a login outside the agent): that one is used.
        #expect(m.newerStored(theirs, now: t0) == [.publish(theirs)])
        #expect(served(m.tokenWanted(minValid: 60, interactive: false, now: t0).0) == theirs)
    }

    // MARK: Other writers

    @Test func aNewerSetInTheKeyringIsAdoptedOnReload() {
        var m = loaded(tokens(1, at: t0))
        #expect(m.keyringMayHaveChanged(now: t0) == [.load(purpose: .lookForNewer)])
        let outside = tokens(2, at: t0.addingTimeInterval(10))
        #expect(m.loaded(outside, now: t0.addingTimeInterval(10)) == [.publish(outside)])
        // An older one is not.
        #expect(m.keyringMayHaveChanged(now: t0) == [.load(purpose: .lookForNewer)])
        #expect(m.loaded(tokens(1, at: t0), now: t0).isEmpty)
    }

    @Test func signingInAsAnotherAccountIsRefusedWithoutTheFlag() {
        var m = loaded(tokens(1, at: t0))
        #expect(m.authorizationWanted().1 == [.authorize])
        var bob = tokens(2, at: t0)
        bob.account = "bob"
        let (actions, error) = m.authorized(bob, allowAccountSwitch: false, now: t0)
        #expect(error?.code == .authorizationFailed && error?.message.contains("--switch-account") == true)
        #expect(actions == [.discard(bob)], "the unwanted grant is not left behind, and its revocation is no one else's")
        #expect(served(m.tokenWanted(minValid: 0, interactive: false, now: t0).0)?.account == "alice")
        _ = m.authorizationWanted()
        let (switched, none) = m.authorized(bob, allowAccountSwitch: true, now: t0)
        #expect(none == nil && switched.contains(.save(bob)))
    }

    // MARK: Refresh discipline (S15)

    @Test func aGatewayThatAlwaysRefusesCausesABoundedNumberOfRefreshes() {
        var m = loaded(tokens(0, at: t0))
        var requests = 0
        var n = 0
        var now = t0
        // 60 s of callers every 100 ms, each refused with invalid_token.
        while now < t0.addingTimeInterval(60) {
            let current = m.state.grant!.tokens.accessToken
            let (answer, actions) = m.tokenRejected(current, plain: false, now: now)
            if refreshes(actions) > 0 {
                requests += 1
                n += 1
                let fresh = tokens(n, at: now)
                _ = m.refreshed(fresh, now: now)
                _ = m.saved(fresh, now: now)
            } else {
                #expect(served(answer) != nil)
            }
            now = now.addingTimeInterval(0.1)
        }
        #expect(requests <= 6, "\(requests) token requests in a minute")
        #expect(requests >= 2, "refused tokens are still refreshed")
    }

    @Test func aFailingTokenEndpointIsRetriedWithBackoffWhateverTheCallers() throws {
        var m = loaded(tokens(0, at: t0.addingTimeInterval(-3590), lifetime: 3600))
        var requests = 0
        var now = t0
        let down = AgentError(.transient, "503")
        while now < t0.addingTimeInterval(60) {
            let (_, actions) = m.tokenWanted(minValid: 60, interactive: false, now: now)
            if refreshes(actions) > 0 {
                requests += 1
                _ = m.refreshFailed(down, now: now)
            }
            for action in m.timerFired(now: now) { if case .refresh = action { requests += 1; _ = m.refreshFailed(down, now: now) } }
            now = now.addingTimeInterval(0.05)
        }
        #expect(requests <= 6 && requests >= 3, "\(requests) token requests in a minute")
        // The grant is kept through it all.
        #expect(m.state.name == "authorized")
        // Once the token has expired and the back-off runs, callers are told when it retries.
        let notBefore = try #require(m.refreshNotBefore)
        let (expired, none) = m.tokenWanted(minValid: 0, interactive: false, now: notBefore.addingTimeInterval(-1))
        #expect(failure(expired)?.code == .transient && failure(expired)?.message.contains("retries in 1 s") == true)
        #expect(refreshes(none) == 0)
    }

    @Test func absurdLifetimesCannotCauseARefreshLoop() {
        let m = machine()
        let zero = tokens(1, at: t0, lifetime: 0)
        let (kept, note) = m.normalized(zero)
        #expect(kept.expiresAt == t0 && note != nil, "the server's expiry is kept for status")
        #expect(m.floored(zero).expiresAt == t0.addingTimeInterval(10), "and the rules see the floor")
        let (assumed, why) = m.normalized(tokens(1, at: t0, lifetime: nil))
        #expect(assumed.expiresAt == t0.addingTimeInterval(600) && assumed.expiryAssumed == true && why != nil)
        // expires_in 1 from every refresh: the timer refreshes at most 6 times a minute.
        var machine = loaded(tokens(0, at: t0, lifetime: 1))
        var requests = 0
        var now = t0
        var n = 0
        while now < t0.addingTimeInterval(60) {
            for action in machine.timerFired(now: now) {
                guard case .refresh = action else { continue }
                requests += 1
                n += 1
                let fresh = tokens(n, at: now, lifetime: 1)
                _ = machine.refreshed(fresh, now: now)
                _ = machine.saved(machine.state.grant!.tokens, now: now)
            }
            now = now.addingTimeInterval(0.5)
        }
        #expect(requests <= 6 && requests >= 4, "\(requests) refreshes in a minute")
    }

    @Test func withAnAssumedExpiryAPlain401AlsoRefreshes() {
        var m = loaded(tokens(1, at: t0, lifetime: nil))
        let set = m.state.grant!.tokens
        #expect(set.expiryAssumed == true)
        #expect(refreshes(m.tokenRejected(set.accessToken, plain: true, now: t0.addingTimeInterval(30)).1) == 1)
        var known = loaded(tokens(1, at: t0))
        #expect(refreshes(known.tokenRejected("at-1", plain: true, now: t0.addingTimeInterval(30)).1) == 0)
    }

    @Test func aTransientFailureKeepsTheGrantAndTheValidToken() {
        var m = loaded(tokens(1, at: t0, lifetime: 300))
        let at = t0.addingTimeInterval(280)
        _ = m.tokenWanted(minValid: 60, interactive: false, now: at)
        _ = m.refreshFailed(AgentError(.transient, "maintenance page"), now: at)
        let (a, x) = m.tokenWanted(minValid: 60, interactive: false, now: at, waited: [.refresh])
        #expect(served(a)?.accessToken == "at-1" && x.isEmpty)
        #expect(m.state.name == "authorized")
    }

    // MARK: Only a verdict ends a grant, after the keyring was read again

    @Test func aRefusedRefreshTokenRereadsTheKeyringFirst() {
        var m = loaded(tokens(1, at: t0, lifetime: 100))
        let at = t0.addingTimeInterval(95)
        _ = m.tokenWanted(minValid: 60, interactive: false, now: at)
        let refused = AgentError(.authorizationRequired, "invalid_grant")
        #expect(m.refreshFailed(refused, now: at) == [.load(purpose: .lookForNewer)])
        // Another process rotated it: its set is used.
        let rotated = tokens(2, at: at)
        #expect(m.loaded(rotated, now: at) == [.publish(rotated)])
        // Nobody did: sign in again, told once, the record kept for status.
        var n = loaded(tokens(1, at: t0, lifetime: 100))
        _ = n.tokenWanted(minValid: 60, interactive: false, now: at)
        _ = n.refreshFailed(refused, now: at)
        #expect(n.loaded(tokens(1, at: t0, lifetime: 100), now: at) == [.unpublish, .notify(.signInNeeded)])
        #expect(n.state.name == "needs_authorization")
        let (answer, _) = n.tokenWanted(minValid: 0, interactive: false, now: at, waited: [.load])
        #expect(failure(answer)?.code == .authorizationRequired)
    }

    // MARK: Revocation is a barrier (S12, S17)

    @Test func revokeDuringARefreshRevokesWhatTheRefreshProduced() {
        let old = tokens(1, at: t0, lifetime: 100)
        var m = loaded(old)
        let at = t0.addingTimeInterval(95)
        _ = m.tokenWanted(minValid: 60, interactive: false, now: at)
        let (wait, actions) = m.revokeRequested(now: at)
        #expect(waits(wait) == .revocation && actions == [.unpublish, .recordRevocation(at: at)], "nothing goes to the server before the refresh ends")
        #expect(failure(m.tokenWanted(minValid: 0, interactive: true, now: at).0) != nil, "no token during the revoke")
        let fresh = tokens(2, at: at)
        #expect(m.refreshed(fresh, now: at) == [.revokeAtServer([old, fresh])], "never saved, revoked")
        var report = RevocationReport(connection: "acme")
        report.revoked = ["refresh_token", "access_token"]
        #expect(m.serverRevoked(report, now: at) == [.writeRevocation(.delete)])
        #expect(m.keyringWritten(.delete, existed: true, now: at) == [.clearRevocationRecord])
        #expect(m.revocationReport?.deletedFromKeyring == true)
        // The old set read back from anywhere is never adopted again.
        _ = m.tokenWanted(minValid: 0, interactive: false, now: at)
        #expect(m.loaded(old, now: at).isEmpty)
        #expect(failure(m.tokenWanted(minValid: 0, interactive: false, now: at, waited: [.load]).0)?.code == .authorizationRequired)
    }

    @Test func anUnconfirmedRevocationIsKeptMarkedAndFinishedLater() {
        let set = tokens(1, at: t0)
        var m = loaded(set)
        _ = m.revokeRequested(now: t0)
        var report = RevocationReport(connection: "acme")
        report.uncertain = ["refresh_token", "access_token"]
        var marked = set
        marked.revocationPending = true
        #expect(m.serverRevoked(report, now: t0) == [.writeRevocation(.markPending(marked))])
        _ = m.keyringWritten(.markPending(marked), existed: true, now: t0)
        #expect(m.lastError?.contains("jira-auth-agent revoke acme") == true)
        // After a restart the marked item is a revocation to finish, never a token.
        var restarted = machine()
        _ = restarted.tokenWanted(minValid: 0, interactive: true, now: t0)
        #expect(restarted.loaded(marked, now: t0).isEmpty)
        #expect(restarted.state.name == "revoked")
        #expect(failure(restarted.tokenWanted(minValid: 0, interactive: true, now: t0, waited: [.load]).0)?.message.contains("revoke acme") == true)
        let (_, again) = restarted.revokeRequested(now: t0)
        #expect(again == [.unpublish, .recordRevocation(at: t0), .revokeAtServer([marked])])
        report.uncertain = []
        report.revoked = ["refresh_token", "access_token"]
        #expect(restarted.serverRevoked(report, now: t0) == [.writeRevocation(.delete)])
    }

    @Test func aRevokeWithTheKeyringLockedHoldsAndIsWrittenOnUnlock() {
        let set = tokens(1, at: t0)
        var m = loaded(set)
        _ = m.revokeRequested(now: t0)
        var confirmed = RevocationReport(connection: "acme")
        confirmed.revoked = ["refresh_token", "access_token"]
        _ = m.serverRevoked(confirmed, now: t0)
        _ = m.keyringWriteFailed(.delete, AgentError(.keyringLocked, "locked"), now: t0)
        #expect(m.revocationReport?.keyringPending == true)
        #expect(m.lastError?.contains("keyring") == true)
        // An unlock retries the write at once; it fails again (locked once more).
        #expect(m.keyringMayHaveChanged(now: t0) == [.writeRevocation(.delete)])
        #expect(m.wakeUp == nil, "no timer while the write runs")
        _ = m.keyringWriteFailed(.delete, AgentError(.keyringLocked, "locked"), now: t0)
        // The old set, still in the keyring, is never served again.
        _ = m.tokenWanted(minValid: 0, interactive: false, now: t0)
        let onRead = m.loaded(set, now: t0)
        #expect(onRead == [.writeRevocation(.delete)], "the keyring answered: the deletion goes now")
        #expect(m.keyringWritten(.delete, existed: true, now: t0) == [.clearRevocationRecord], "the note outside the keyring goes only now")
        #expect(m.revocationReport?.keyringPending == false)
        #expect(m.wakeUp == nil)
    }

    @Test func aRevokeWhenTheKeyringCannotBeReadRevokesTheSetOnceItCan() throws {
        var m = machine()
        let (wait, actions) = m.revokeRequested(now: t0)
        #expect(waits(wait) == .revocation && actions == [.unpublish, .recordRevocation(at: t0), .load(purpose: .lookForNewer)])
        #expect(m.loadFailed(AgentError(.keyringLocked, "locked"), now: t0).isEmpty)
        #expect(m.revocationReport?.keyringPending == true)
        let set = tokens(1, at: t0)
        let retry = try #require(m.wakeUp)
        #expect(retry > t0, "retried after a back-off, not at once")
        #expect(m.timerFired(now: retry) == [.writeRevocation(.revokeStored)])
        // The actor carries `.revokeStored` out as a read; the set it finds is revoked.
        #expect(m.loaded(set, now: retry) == [.unpublish, .revokeAtServer([set])])
    }

    @Test func afterAFinishedRevocationTheNextInteractiveCallerSignsInAgain() {
        var m = loaded(tokens(1, at: t0))
        _ = m.revokeRequested(now: t0)
        var confirmed = RevocationReport(connection: "acme")
        confirmed.revoked = ["refresh_token", "access_token"]
        _ = m.serverRevoked(confirmed, now: t0)
        _ = m.keyringWritten(.delete, existed: true, now: t0)
        _ = m.tokenWanted(minValid: 0, interactive: true, now: t0)
        _ = m.loaded(nil, now: t0)
        #expect(failure(m.tokenWanted(minValid: 0, interactive: false, now: t0, waited: [.load]).0)?.code == .authorizationRequired)
        #expect(m.tokenWanted(minValid: 0, interactive: true, now: t0, waited: [.load]).1 == [.authorize])
        // An unfinished one is finished first: a sign-in's save would replace its record.
        var n = loaded(tokens(1, at: t0))
        _ = n.revokeRequested(now: t0)
        var uncertain = RevocationReport(connection: "acme")
        uncertain.uncertain = ["refresh_token", "access_token"]
        _ = n.serverRevoked(uncertain, now: t0)
        var marked = tokens(1, at: t0)
        marked.revocationPending = true
        _ = n.keyringWritten(.markPending(marked), existed: true, now: t0)
        _ = n.tokenWanted(minValid: 0, interactive: true, now: t0)
        _ = n.loaded(marked, now: t0)
        let (answer, actions) = n.tokenWanted(minValid: 0, interactive: true, now: t0, waited: [.load])
        #expect(failure(answer)?.message.contains("revoke acme") == true && actions.isEmpty)
        #expect(failure(n.authorizationWanted().0)?.message.contains("revoke acme") == true)
    }

    @Test func revokeWhileUnauthorizedDeletesTheRecord() {
        var m = machine()
        let (_, actions) = m.revokeRequested(now: t0)
        #expect(actions == [.unpublish, .recordRevocation(at: t0), .load(purpose: .lookForNewer)])
        #expect(m.loaded(nil, now: t0) == [.writeRevocation(.delete)])
        #expect(m.keyringWritten(.delete, existed: false, now: t0) == [.clearRevocationRecord])
        #expect(m.revocationReport?.deletedFromKeyring == false)
    }

    // MARK: Authorization

    @Test func manyInteractiveCallersCauseOneSignIn() {
        var m = machine()
        _ = m.tokenWanted(minValid: 0, interactive: true, now: t0)
        _ = m.loaded(nil, now: t0)
        var starts = 0
        for _ in 0..<50 {
            let (a, x) = m.tokenWanted(minValid: 0, interactive: true, now: t0, waited: [.load])
            starts += x.filter { $0 == .authorize }.count
            #expect(waits(a) == .authorize)
        }
        #expect(starts == 1)
        let set = tokens(1, at: t0)
        let (actions, error) = m.authorized(set, allowAccountSwitch: false, now: t0)
        #expect(error == nil && actions == [.save(set)])
        #expect(m.saved(set, now: t0) == [.publish(set)])
    }

    @Test func noTimersInACommandLineProcess() {
        var m = loaded(tokens(1, at: t0, lifetime: 100), proactive: false)
        #expect(m.wakeUp == nil)
        #expect(m.timerFired(now: t0.addingTimeInterval(99)).isEmpty)
    }

    @Test func anIdleSessionWakesOnlyToRefresh() {
        let m = loaded(tokens(1, at: t0, lifetime: 3600))
        // max(60 s, 10 % of the lifetime) before expiry, no jitter.
        #expect(m.wakeUp == t0.addingTimeInterval(3600 - 360))
    }

    // MARK: From the review of the first version

    @Test func aRejectedTokenWaitsForTheRefreshAndTheSaveInFlight() {
        var m = loaded(tokens(1, at: t0))
        let at = t0.addingTimeInterval(30)
        #expect(m.tokenRejected("at-1", plain: false, now: at).1 == [.refresh(tokens(1, at: t0))])
        // Another caller saw the same refusal: it joins the refresh, not the refused token.
        #expect(waits(m.tokenRejected("at-1", plain: false, now: at).0) == .refresh)
        let fresh = tokens(2, at: at)
        _ = m.refreshed(fresh, now: at)
        // The new set is handed out once saved, also to a caller holding the old one.
        #expect(waits(m.tokenRejected("at-1", plain: false, now: at, waited: [.refresh]).0) == .save)
        _ = m.saved(fresh, now: at)
        #expect(served(m.tokenRejected("at-1", plain: false, now: at, waited: [.refresh, .save]).0) == fresh)
    }

    @Test func anExplicitSignInReadsTheKeyringFirst() {
        // Unloaded (a command-line `login`): the keyring is read before anything else.
        var m = machine(proactive: false)
        #expect(m.authorizationWanted().1 == [.load(purpose: .start)])
        var marked = tokens(1, at: t0)
        marked.revocationPending = true
        _ = m.loaded(marked, now: t0)
        #expect(failure(m.authorizationWanted(waited: [.load]).0)?.message.contains("revoke acme") == true,
                "an unfinished revocation is not overwritten by a new sign-in")
        // The account held is the one a new sign-in is checked against.
        var n = machine(proactive: false)
        _ = n.authorizationWanted()
        _ = n.loaded(tokens(1, at: t0), now: t0)
        #expect(n.authorizationWanted(waited: [.load]).1 == [.authorize])
        var bob = tokens(2, at: t0)
        bob.account = "bob"
        #expect(n.authorized(bob, allowAccountSwitch: false, now: t0).1 != nil)
        // A keyring that cannot be read stops the sign-in.
        var o = machine(proactive: false)
        _ = o.authorizationWanted()
        let locked = AgentError(.keyringLocked, "locked")
        _ = o.loadFailed(locked, now: t0)
        #expect(failure(o.authorizationWanted(waited: [.load], failure: locked).0)?.code == .keyringLocked)
    }

    @Test func revokeAgainWhileTheLastOnesKeyringRetryRunsWaitsForIt() {
        var m = loaded(tokens(1, at: t0))
        _ = m.revokeRequested(now: t0)
        var uncertain = RevocationReport(connection: "acme")
        uncertain.uncertain = ["refresh_token", "access_token"]
        let writes = m.serverRevoked(uncertain, now: t0)
        guard case .writeRevocation(let write)? = writes.first else { Issue.record("no write: \(writes)"); return }
        _ = m.keyringWriteFailed(write, AgentError(.keyringLocked, "locked"), now: t0)
        #expect(m.keyringMayHaveChanged(now: t0) == [.writeRevocation(write)])
        // The user runs `revoke` again meanwhile: it waits for that write, starting nothing.
        let (answer, actions) = m.revokeRequested(now: t0)
        #expect(waits(answer) == .revocation && actions.isEmpty)
        _ = m.keyringWritten(write, existed: true, now: t0)
        #expect(m.revocationReport?.uncertain == ["refresh_token", "access_token"], "the first revocation's report stays its own")
        // Asked again, it revokes the unconfirmed set once more.
        #expect(m.revokeRequested(now: t0).1.contains(.revokeAtServer([tokens(1, at: t0)])))
    }

    @Test func stoppingStartsNothingNewAndStillOwesTheSave() {
        var m = loaded(tokens(1, at: t0, lifetime: 1000))
        let at = t0.addingTimeInterval(950)
        _ = m.tokenWanted(minValid: 60, interactive: false, now: at)
        let fresh = tokens(2, at: at, lifetime: 1000)
        _ = m.refreshed(fresh, now: at)
        _ = m.saveFailed(fresh, AgentError(.keyringLocked, "locked"), now: at)
        // A sign-in on top of the unsaved set; then shutdown.
        #expect(m.authorizationWanted().1 == [.authorize])
        m.stop()
        #expect(m.shutdownWrites() == [.save(fresh)], "the held set is saved even during a sign-in")
        #expect(m.wakeUp == nil)
        _ = m.authorizationFailed(AgentError(.authorizationFailed, "cancelled"), now: at)
        let late = at.addingTimeInterval(990)
        #expect(refreshes(m.tokenWanted(minValid: 60, interactive: false, now: late).1) == 0, "no refresh after stop")
        #expect(m.timerFired(now: late).isEmpty)
        #expect(failure(m.authorizationWanted().0) != nil, "no sign-in after stop")
    }
}
