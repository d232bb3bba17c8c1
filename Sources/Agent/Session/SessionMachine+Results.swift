import FoundationEssentials
import OAuth

/// The results of the session's I/O.
extension SessionMachine {
    // MARK: Keyring reads

    mutating func loaded(_ stored: TokenSet?, now: Date) -> [Action] {
        finish(.load)
        switch state {
        case .loading, .unloaded:
            guard let stored else { set(.unauthorized(.none)); return [] }
            if stored.revocationPending == true {
                set(.revoked(Revoked(report: RevocationReport(connection: connection), sets: [stored], unconfirmed: [stored])))
                noteError("A revocation is unfinished: the server did not confirm it. Run: jira-auth-agent revoke \(connection)")
                return []
            }
            if let bound = stored.issuedFor, bound != binding {
                set(.unauthorized(.otherServer))
                noteError(authorizationRequired(.otherServer).message)
                return []
            }
            return adoptStored(stored, now: now)
        case .unauthorized(let absence):
            guard let stored, isNewLogin(stored, absence: absence) else { return [] }
            return adoptStored(stored, now: now)
        case .authorized(let grant):
            // Another process saved a newer set (a `login` outside the agent, a SIGHUP).
            guard let stored, Self.supersedes(stored, grant.tokens), usable(stored) else { return [] }
            return adoptStored(stored, now: now)
        case .revoked(var revoked):
            if revoked.pendingWrite == .revokeStored { finish(.revocation) }
            guard let stored else {
                if revoked.pendingWrite == .revokeStored {
                    revoked.pendingWrite = nil
                    revoked.retryAt = nil
                    revoked.report.keyringPending = false
                    set(.revoked(revoked))
                    return [.clearRevocationRecord]
                }
                return []
            }
            if revoked.pendingWrite == .revokeStored, !revoked.sets.contains(where: { $0.accessToken == stored.accessToken }) || stored.revocationPending == true {
                // The keyring was locked when the revoke came; now the set is known: revoke it.
                return beginRevocation(Revocation(tokens: [stored], report: RevocationReport(connection: connection)), now: now)
            }
            if revoked.sets.contains(where: { $0.accessToken == stored.accessToken }) || stored.revocationPending == true {
                // The revoked set itself, still there (its deletion is pending): never served.
                guard let write = revoked.pendingWrite, !running.contains(.revocation) else { return [] }
                var writing = revoked
                writing.retryAt = nil
                set(.revoked(writing))
                return start(.revocation, [.writeRevocation(write)]).1
            }
            guard usable(stored), revoked.pendingWrite == nil || stored.obtainedAt > (revoked.sets.map(\.obtainedAt).max() ?? .distantPast) else { return [] }
            return adoptStored(stored, now: now)
        case .revoking(let revocation):
            return ended(.load, revocation, adding: stored, now: now)
        case .checkingRefusal(let grant, let reason):
            if let stored, Self.supersedes(stored, grant.tokens), usable(stored) {
                return adoptStored(stored, now: now)
            }
            return giveUp(grant, reason: reason)
        case .authorizing, .refreshing:
            return []
        }
    }

    /// The grant is dead: sign in again. The keyring's record stays for `status`.
    private mutating func giveUp(_ grant: Grant, reason: String) -> [Action] {
        set(.unauthorized(.needsReauthorization(reason: reason, account: grant.tokens.account, deadRefreshToken: grant.tokens.refreshToken)))
        return [.unpublish, .notify(.signInNeeded)]
    }

    mutating func loadFailed(_ error: AgentError, now: Date) -> [Action] {
        finish(.load)
        noteError(error.message)
        switch state {
        case .loading: set(.unloaded)
        case .checkingRefusal(let grant, _):
            // The keyring could not be read again: no verdict yet. The refusal is retried
            // after the back-off, and read again then (S6: re-read before giving up).
            recordRefreshFailure(now: now, message: error.message)
            set(.authorized(grant))
        case .revoked(var revoked) where revoked.pendingWrite == .revokeStored:
            finish(.revocation)
            revoked.failures += 1
            revoked.retryAt = now.addingTimeInterval(policy.saveRetry(attempt: revoked.failures))
            set(.revoked(revoked))
        case .revoking(var revocation):
            // The set cannot be read: the barrier holds, and it is revoked once it can be.
            revocation.awaiting.remove(.load)
            revocation.unreadable = true
            return advance(revocation, now: now)
        default: break
        }
        return []
    }

    /// A stored set that is a new sign-in, not the dead grant's record.
    private func isNewLogin(_ stored: TokenSet, absence: Absence) -> Bool {
        guard usable(stored) else { return false }
        if case .needsReauthorization(_, _, let dead) = absence, stored.refreshToken == dead { return false }
        return true
    }

    private func usable(_ stored: TokenSet) -> Bool {
        stored.revocationPending != true && (stored.issuedFor == nil || stored.issuedFor == binding)
    }

    /// `stored` is a newer set than `held`: issued later, and not the same tokens.
    static func supersedes(_ stored: TokenSet, _ held: TokenSet) -> Bool {
        stored.accessToken != held.accessToken && stored.obtainedAt > held.obtainedAt
    }

    private mutating func adoptStored(_ stored: TokenSet, now: Date) -> [Action] {
        let (tokens, note) = normalized(stored)
        if let note { noteServer(note) }
        set(.authorized(Grant(tokens: tokens, persistence: .saved)))
        noteError(nil)
        return [.publish(tokens)]
    }

    // MARK: Token requests

    mutating func refreshed(_ fresh: TokenSet, now: Date) -> [Action] {
        finish(.refresh)
        recordRefreshSuccess(now: now)
        switch state {
        case .refreshing:
            return holdNew(fresh, now: now)
        case .revoking(let revocation):
            // Rotated at the server after the barrier went up: revoked, never saved (S12).
            return ended(.refresh, revocation, adding: fresh, now: now)
        default:
            return []
        }
    }

    mutating func refreshFailed(_ error: AgentError, now: Date) -> [Action] {
        finish(.refresh)
        switch state {
        case .refreshing(let grant):
            if error.code == .authorizationRequired {
                // Only an OAuth verdict ends a grant, and only after the keyring was read
                // again: another process may hold the rotated refresh token (S6).
                set(.checkingRefusal(grant, reason: error.message))
                noteError(error.message)
                return start(.load, [.load(purpose: .lookForNewer)]).1
            }
            recordRefreshFailure(now: now, message: error.message)
            set(.authorized(grant))
            return []
        case .revoking(let revocation):
            return ended(.refresh, revocation, now: now)
        default:
            return []
        }
    }

    // MARK: Keyring writes

    mutating func saved(_ tokens: TokenSet, now: Date) -> [Action] {
        finish(.save)
        switch state {
        case .authorized(var grant) where grant.tokens == tokens:
            grant.persistence = .saved
            set(.authorized(grant))
            if lastError?.hasPrefix("The keyring") == true { noteError(nil) }
            return [.publish(tokens)]
        case .revoking(let revocation):
            return ended(.save, revocation, now: now)
        default:
            return []
        }
    }

    /// The save found a newer set in the keyring (another process): that one is used.
    mutating func newerStored(_ stored: TokenSet, now: Date) -> [Action] {
        finish(.save)
        switch state {
        case .authorized:
            return adoptStored(stored, now: now)
        case .revoking(let revocation):
            return ended(.save, revocation, adding: stored, now: now)
        default:
            return []
        }
    }

    mutating func saveFailed(_ tokens: TokenSet, _ error: AgentError, now: Date) -> [Action] {
        finish(.save)
        switch state {
        case .authorized(var grant) where grant.tokens == tokens:
            // Never dropped: held, served while valid, saved later (S6).
            let failures: Int
            if case .saving(let n) = grant.persistence { failures = n + 1 } else { failures = 1 }
            grant.persistence = .pending(failures: failures, retryAt: now.addingTimeInterval(policy.saveRetry(attempt: failures)))
            set(.authorized(grant))
            noteError("The keyring cannot save the renewed tokens of '\(connection)' (\(error.message)); they are kept in memory and saved as soon as it can.")
            return [.publish(tokens)] + (failures == 1 ? [.notify(.keyringCannotSave)] : [])
        case .revoking(let revocation):
            return ended(.save, revocation, now: now)
        default:
            return []
        }
    }

    // MARK: Authorization

    /// A sign-in ended with `tokens`. Signing in as another account than the connection
    /// had is refused unless `allowAccountSwitch`: the set is discarded (and revoked).
    mutating func authorized(_ tokens: TokenSet, allowAccountSwitch: Bool, now: Date) -> ([Action], AgentError?) {
        finish(.authorize)
        switch state {
        case .authorizing(let previous, let absence):
            var before = previous?.tokens.account
            if case .needsReauthorization(_, let account, _) = absence { before = before ?? account }
            if let before, let now = tokens.account, before != now, !allowAccountSwitch {
                set(previous.map { .authorized($0) } ?? .unauthorized(absence))
                let error = AgentError(.authorizationFailed, "You signed in as '\(now)', but '\(connection)' was used as '\(before)'. The new sign-in was discarded. To switch accounts: jira-auth-agent login \(connection) --switch-account")
                return ([.discard(tokens)], error)
            }
            set(.refreshing(Grant(tokens: tokens, persistence: .saved)))
            return (holdNew(tokens, now: now), nil)
        case .revoking(let revocation):
            return (ended(.authorize, revocation, adding: tokens, now: now), AgentError(.authorizationFailed, "Access for '\(connection)' was revoked while the sign-in ran."))
        default:
            return ([.discard(tokens)], AgentError(.authorizationFailed, "The sign-in for '\(connection)' was no longer wanted."))
        }
    }

    mutating func authorizationFailed(_ error: AgentError, now: Date) -> [Action] {
        finish(.authorize)
        noteError(error.message)
        switch state {
        case .authorizing(let previous, let absence):
            set(previous.map { .authorized($0) } ?? .unauthorized(absence))
            return []
        case .revoking(let revocation):
            return ended(.authorize, revocation, now: now)
        default:
            return []
        }
    }

    /// New tokens (a refresh or a sign-in): normalized, then saved before anyone gets them.
    private mutating func holdNew(_ fresh: TokenSet, now: Date) -> [Action] {
        var (tokens, note) = normalized(fresh)
        tokens.issuedFor = binding
        noteServer(note)
        var actions: [Action] = note.map { [.notify(.serverLifetime($0))] } ?? []
        set(.authorized(Grant(tokens: tokens, persistence: .saving(failures: 0))))
        actions += start(.save, [.save(tokens)]).1
        return actions
    }

    /// Absurd lifetimes made harmless (S15): none counts as the assumed lifetime (and then a
    /// plain 401 also gets one refresh); one below the floor is reported (`floored` applies it).
    func normalized(_ tokens: TokenSet) -> (TokenSet, String?) {
        var tokens = tokens
        guard let expiresAt = tokens.expiresAt else {
            tokens.expiresAt = tokens.obtainedAt.addingTimeInterval(policy.assumedLifetime)
            tokens.expiryAssumed = true
            return (tokens, "The authorization server gives no expires_in; the agent assumes \(Int(policy.assumedLifetime)) s and refreshes when the gateway refuses the token.")
        }
        if tokens.expiryAssumed == true { return (tokens, nil) }
        let lifetime = expiresAt.timeIntervalSince(tokens.obtainedAt)
        guard lifetime < policy.lifetimeFloor else { return (tokens, nil) }
        return (tokens, "The authorization server gives access tokens an expires_in of \(Int(max(lifetime, 0))) s; the agent refreshes as if it were \(Int(policy.lifetimeFloor)) s so as not to refresh in a loop. Ask the server's admin to raise the lifetime.")
    }
}
