import FoundationEssentials
import OAuth

extension SessionMachine {
    /// The kinds of I/O a session runs, at most one of each at a time. Callers wait on one
    /// (single flight) and never start the same kind twice for one request, which bounds
    /// every caller's loop.
    enum Work: Hashable, Sendable, CaseIterable {
        /// Read the keyring item (at start, or to look for a newer set another process saved).
        case load
        /// A token request with the refresh token (RFC 6749 §6).
        case refresh
        /// Write the held set to the keyring.
        case save
        /// The interactive authorization (browser or device grant).
        case authorize
        /// The revocation, from the barrier to the keyring's deletion.
        case revocation
    }

    /// What the session actor carries out. Every I/O action ends in exactly one result event.
    enum Action: Sendable, Equatable {
        /// `store.load` → `loaded` or `loadFailed`.
        case load(purpose: LoadPurpose)
        /// `client.refresh` → `refreshed` or `refreshFailed`.
        case refresh(TokenSet)
        /// `store.save`, unless the item already holds a newer set → `saved`, `newerStored`
        /// or `saveFailed`.
        case save(TokenSet)
        /// Runs the interactive authorization → `authorized` or `authorizationFailed`.
        case authorize
        /// Stops the authorization in progress (its result still arrives, as a failure).
        case cancelAuthorization
        /// RFC 7009 at the server, refresh token first → `serverRevoked`.
        case revokeAtServer([TokenSet])
        /// Revokes a set nobody wants (a sign-in as another account) at the server; its
        /// outcome is only logged, never taken for a revocation's.
        case discard(TokenSet)
        /// Deletes the keyring item, or keeps it marked as a pending revocation →
        /// `keyringWritten` or `keyringWriteFailed`.
        case writeRevocation(KeyringRevocation)
        /// The proxy's cache: serve this access token from now on.
        case publish(TokenSet)
        /// The proxy's cache: serve no token.
        case unpublish
        /// Tells the person (desktop notification).
        case notify(Notice)
        /// Notes outside the keyring that the revocation began at this time: a stored set
        /// obtained before it is never used again, even if the keyring could not be changed
        /// before the agent stopped (`RevocationRecords`).
        case recordRevocation(at: Date)
        /// The keyring holds the revocation's outcome: the note goes.
        case clearRevocationRecord
    }

    /// Why the keyring is read.
    enum LoadPurpose: Sendable, Equatable {
        /// The first read, or again after it failed.
        case start
        /// Another process may have saved a newer set (a `login` outside the agent, a
        /// SIGHUP, a refused refresh token: SECURITY S6).
        case lookForNewer
    }

    /// What a revocation leaves in the keyring.
    enum KeyringRevocation: Sendable, Equatable {
        /// The server confirmed (or cannot revoke at all): the item goes.
        case delete
        /// The server did not confirm: the set stays, marked, unusable for requests, so
        /// that `revoke` run again (by this agent or after a restart) finishes it.
        case markPending(TokenSet)
        /// The keyring could not be read when the revoke came: read it, revoke what it
        /// holds at the server, then delete it.
        case revokeStored
    }

    enum Notice: Sendable, Equatable {
        case signInNeeded
        case keyringCannotSave
        case serverLifetime(String)
    }

    /// The answer to a caller.
    enum Answer: Sendable {
        case serve(TokenSet)
        case fail(AgentError)
        /// Wait until this work ends, then ask again (naming it in `waited`).
        case wait(Work)
    }

    /// Whether a held set is in the keyring (SECURITY S6).
    enum Persistence: Sendable, Equatable {
        case saved
        /// A save is in flight, after `failures` failed ones.
        case saving(failures: Int)
        /// The save failed `failures` times; retried at `retryAt`, on unlock and at shutdown.
        case pending(failures: Int, retryAt: Date)
    }

    /// Tokens the session holds, and whether they are saved.
    struct Grant: Sendable, Equatable {
        var tokens: TokenSet
        var persistence: Persistence
    }

    /// Why there are no tokens.
    enum Absence: Sendable, Equatable {
        /// Nothing stored.
        case none
        /// The stored set was issued for another server configuration of this connection.
        case otherServer
        /// The server refused the refresh token (an OAuth error): sign in again. The
        /// record stays in the keyring for `status`.
        case needsReauthorization(reason: String, account: String?, deadRefreshToken: String?)
    }

    /// A revocation in progress: the barrier is up.
    struct Revocation: Sendable, Equatable {
        /// Sets to revoke at the server.
        var tokens: [TokenSet] = []
        /// Work that must end first (a refresh may already have rotated at the server; a
        /// save in flight must not land after the deletion).
        var awaiting: Set<Work> = []
        var report: RevocationReport
        var atServer = false
        var writingKeyring = false
        /// The keyring could not be read: the stored set is revoked once it can be.
        var unreadable = false
    }

    /// After a revocation.
    struct Revoked: Sendable, Equatable {
        var report: RevocationReport
        /// Every set revoked: never adopted again, whatever the keyring still holds.
        var sets: [TokenSet]
        /// Sets the server did not confirm: `revoke` again tries them again.
        var unconfirmed: [TokenSet]
        /// The keyring write that failed (locked, unavailable): retried; the barrier holds
        /// in memory meanwhile.
        var pendingWrite: KeyringRevocation?
        var retryAt: Date?
        var failures = 0
    }

    enum State: Sendable, Equatable {
        case unloaded
        case loading
        case unauthorized(Absence)
        /// An interactive authorization runs; `previous` is still served while valid.
        case authorizing(previous: Grant?, absence: Absence)
        case authorized(Grant)
        case refreshing(Grant)
        /// The server refused the refresh token; the keyring is read again before the
        /// grant is given up (another process may hold the rotated one: S6).
        case checkingRefusal(Grant, reason: String)
        /// The barrier: nothing is handed out, refreshed or saved.
        case revoking(Revocation)
        case revoked(Revoked)

        /// A stable name for status output and the token API.
        var name: String {
            switch self {
            case .unloaded, .loading: return "unknown"
            case .unauthorized(.needsReauthorization): return "needs_authorization"
            case .unauthorized: return "unauthorized"
            case .authorizing: return "authorizing"
            case .authorized: return "authorized"
            case .refreshing, .checkingRefusal: return "refreshing"
            case .revoking: return "revoking"
            case .revoked: return "revoked"
            }
        }

        var grant: Grant? {
            switch self {
            case .authorized(let g), .refreshing(let g), .checkingRefusal(let g, _): return g
            case .authorizing(let previous, _): return previous
            default: return nil
            }
        }
    }
}

extension RevocationReport: Equatable {
    public static func == (a: RevocationReport, b: RevocationReport) -> Bool {
        a.connection == b.connection && a.revoked == b.revoked && a.uncertain == b.uncertain
            && a.noEndpoint == b.noEndpoint && a.deletedFromKeyring == b.deletedFromKeyring
            && a.keyringPending == b.keyringPending
    }
}
