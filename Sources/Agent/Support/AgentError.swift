import FoundationEssentials

/// The Agent module's one error type (STYLE §4): a code, the underlying cause, and a
/// sentence for a person that says what to do. Never carries a secret (SECURITY S11).
public struct AgentError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// No usable token; the user must authorize (`jira-auth-agent login ID`).
        case authorizationRequired = "authorization_required"
        /// The authorization was refused, timed out or cancelled.
        case authorizationFailed = "authorization_failed"
        /// The keyring is locked.
        case keyringLocked = "keyring_locked"
        /// No Secret Service, or it did not answer in time.
        case keyringUnavailable = "keyring_unavailable"
        /// No such connection, team or alias.
        case unknownConnection = "unknown_connection"
        /// Configuration is incomplete or wrong (e.g. no client secret).
        case configuration = "configuration"
        /// Network, TLS or a 5xx from a server; retrying later may help.
        case transient = "transient"
        /// A server answered something that breaks the protocol.
        case protocolViolation = "protocol_violation"
        /// Another agent already runs for this user.
        case alreadyRunning = "already_running"
        /// No agent answers on the socket.
        case agentNotRunning = "agent_not_running"
        /// A request to a local interface was malformed.
        case badRequest = "bad_request"
        /// The revocation could not be confirmed; the tokens may still be valid.
        case revocationUncertain = "revocation_uncertain"
        /// The program may not receive raw tokens of this connection (`token_executables`).
        case tokenNotReleased = "token_not_released"
        case internalError = "internal_error"
    }

    public var code: Code
    public var message: String
    /// The cause, when another module's error or a system call lies below.
    public var underlying: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}
