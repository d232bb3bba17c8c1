/// What `TokenStore.health()` found, for `jira-auth-agent status` (DESIGN §4: the states
/// *locked*, *unavailable* and *timed out* are told apart, never folded into "no token").
public enum KeyringHealth: Sendable, Hashable, CustomStringConvertible {
    /// Tokens can be read and written now.
    case ok
    /// The Secret Service answers but the default collection (login keyring) is locked.
    case locked
    /// No usable Secret Service; the message says why and what to do.
    case unavailable(String)
    /// The Secret Service did not answer within the store's time bound.
    case timedOut

    /// Builds the health value that corresponds to an error of a store operation.
    public init(_ error: KeyringError) {
        switch error.code {
        case .locked: self = .locked
        case .timedOut: self = .timedOut
        case .unavailable, .corrupt, .other: self = .unavailable(error.description)
        }
    }

    /// One line for `status`; never contains a secret.
    public var description: String {
        switch self {
        case .ok: "ok"
        case .locked: "locked: " + KeyringError(code: .locked).description
        case .unavailable(let message): "unavailable: " + message
        case .timedOut: "timed out: " + KeyringError(code: .timedOut).description
        }
    }
}
