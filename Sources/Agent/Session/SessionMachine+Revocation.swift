import FoundationEssentials
import OAuth

/// Revocation (RFC 7009; SECURITY S12, S17): a barrier from the request on; a revocation
/// the server did not confirm is kept in the keyring, marked, so that `revoke` run again
/// finishes it; a keyring that cannot be written keeps the barrier in memory and is
/// written when it can.
extension SessionMachine {
    /// The user asked to revoke. The caller waits on `.revocation`, then reads `report`.
    mutating func revokeRequested(now: Date) -> (Answer, [Action]) {
        var revocation = Revocation(report: RevocationReport(connection: connection))
        var actions: [Action] = [.unpublish, .recordRevocation(at: now)]
        switch state {
        case .revoking:
            return (.wait(.revocation), [])
        case .revoked where running.contains(.revocation):
            // The keyring retry of the last revocation is under way: it ends first, then the
            // caller asks again (`Session.revoke`), so no result lands in the wrong revocation.
            return (.wait(.revocation), [])
        case .unloaded, .loading, .unauthorized:
            // Whatever the keyring holds (a dead grant's record, a pending revocation).
            revocation.awaiting.insert(.load)
            if !running.contains(.load) { running.insert(.load); actions.append(.load(purpose: .lookForNewer)) }
        case .authorizing(let previous, _):
            if let previous { revocation.tokens.append(previous.tokens) }
            revocation.awaiting.insert(.authorize)
            actions.append(.cancelAuthorization)
            if previous == nil {
                // Whatever the keyring holds is revoked too, not deleted unrevoked.
                revocation.awaiting.insert(.load)
                if !running.contains(.load) { running.insert(.load); actions.append(.load(purpose: .lookForNewer)) }
            }
        case .authorized(let grant), .refreshing(let grant), .checkingRefusal(let grant, _):
            revocation.tokens.append(grant.tokens)
        case .revoked(let revoked):
            revocation.tokens = revoked.unconfirmed
            if revoked.unconfirmed.isEmpty {
                revocation.awaiting.insert(.load)
                if !running.contains(.load) { running.insert(.load); actions.append(.load(purpose: .lookForNewer)) }
            }
        }
        // A refresh in flight may already have rotated at the server, a save in flight must
        // not land after the deletion: both end first.
        for work in [Work.refresh, .save, .load] where running.contains(work) { revocation.awaiting.insert(work) }
        running.insert(.revocation)
        return (.wait(.revocation), actions + advance(revocation, now: now))
    }

    /// A revocation the rules start themselves (a set found once the keyring could be read).
    mutating func beginRevocation(_ revocation: Revocation, now: Date) -> [Action] {
        running.insert(.revocation)
        return [.unpublish] + advance(revocation, now: now)
    }

    /// `work` that the revocation waited for has ended — having produced `tokens` to revoke
    /// as well, if it made or found any.
    mutating func ended(_ work: Work, _ revocation: Revocation, adding tokens: TokenSet? = nil, now: Date) -> [Action] {
        var revocation = revocation
        if let tokens, !revocation.tokens.contains(where: { $0.accessToken == tokens.accessToken }) {
            revocation.tokens.append(tokens)
        }
        revocation.awaiting.remove(work)
        return advance(revocation, now: now)
    }

    /// Moves the revocation on once nothing it waits for is running.
    mutating func advance(_ revocation: Revocation, now: Date) -> [Action] {
        var revocation = revocation
        defer { if case .revoking = state { set(.revoking(revocation)) } }
        set(.revoking(revocation))
        guard revocation.awaiting.isEmpty, !revocation.atServer, !revocation.writingKeyring else { return [] }
        if revocation.unreadable, revocation.tokens.isEmpty {
            // Nothing known to revoke yet: the keyring is read, and revoked, when it can be.
            return finishRevocation(revocation, pendingWrite: .revokeStored, now: now)
        }
        if revocation.tokens.isEmpty {
            revocation.writingKeyring = true
            return [.writeRevocation(.delete)]
        }
        revocation.atServer = true
        return [.revokeAtServer(revocation.tokens)]
    }

    /// The server's answers.
    mutating func serverRevoked(_ report: RevocationReport, now: Date) -> [Action] {
        guard case .revoking(var revocation) = state, revocation.atServer else { return [] }
        revocation.atServer = false
        revocation.report.revoked = report.revoked
        revocation.report.uncertain = report.uncertain
        revocation.report.noEndpoint = report.noEndpoint
        revocation.writingKeyring = true
        set(.revoking(revocation))
        // Without a revocation endpoint no retry can ever succeed: the item goes.
        if report.uncertain.isEmpty || report.noEndpoint { return [.writeRevocation(.delete)] }
        var marked = revocation.tokens.max(by: { $0.obtainedAt < $1.obtainedAt })!
        marked.revocationPending = true
        return [.writeRevocation(.markPending(marked))]
    }

    mutating func keyringWritten(_ write: KeyringRevocation, existed: Bool, now: Date) -> [Action] {
        finish(.revocation)
        switch state {
        case .revoking(var revocation):
            revocation.report.deletedFromKeyring = write == .delete && existed
            return finishRevocation(revocation, pendingWrite: nil, now: now) + [.clearRevocationRecord]
        case .revoked(var revoked):
            revoked.pendingWrite = nil
            revoked.retryAt = nil
            revoked.report.keyringPending = false
            revoked.report.deletedFromKeyring = write == .delete && existed || revoked.report.deletedFromKeyring
            set(.revoked(revoked))
            noteError(revoked.unconfirmed.isEmpty ? nil : lastError)
            return [.clearRevocationRecord]
        default:
            return []
        }
    }

    mutating func keyringWriteFailed(_ write: KeyringRevocation, _ error: AgentError, now: Date) -> [Action] {
        finish(.revocation)
        switch state {
        case .revoking(let revocation):
            return finishRevocation(revocation, pendingWrite: write, now: now, error: error)
        case .revoked(var revoked):
            revoked.failures += 1
            revoked.retryAt = now.addingTimeInterval(policy.saveRetry(attempt: revoked.failures))
            set(.revoked(revoked))
            return []
        default:
            return []
        }
    }

    private mutating func finishRevocation(_ revocation: Revocation, pendingWrite: KeyringRevocation?, now: Date,
                                           error: AgentError? = nil) -> [Action] {
        finish(.revocation)
        var report = revocation.report
        report.keyringPending = pendingWrite != nil
        let unconfirmed = report.uncertain.isEmpty || report.noEndpoint ? [] : revocation.tokens
        var revoked = Revoked(report: report, sets: revocation.tokens, unconfirmed: unconfirmed, pendingWrite: pendingWrite)
        if pendingWrite != nil {
            revoked.failures = 1
            revoked.retryAt = now.addingTimeInterval(policy.saveRetry(attempt: 1))
        }
        set(.revoked(revoked))
        var notes: [String] = []
        if !unconfirmed.isEmpty { notes.append("the server did not confirm the revocation: the tokens may stay valid until they expire; retry: jira-auth-agent revoke \(connection)") }
        if pendingWrite != nil { notes.append("the keyring could not be changed (\(error?.message ?? "locked or unavailable")); no token is served, and the keyring is updated as soon as it can be") }
        noteError(notes.isEmpty ? nil : "Revocation of '\(connection)': " + notes.joined(separator: "; ") + ".")
        return []
    }

    /// The report of the last revocation, while revoked.
    var revocationReport: RevocationReport? {
        if case .revoked(let revoked) = state { return revoked.report }
        return nil
    }
}
