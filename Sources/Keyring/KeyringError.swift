/// The one error type of the Keyring module (STYLE §4): what went wrong, the Secret Service's
/// own cause, and a sentence that tells the user what to do (SECURITY S7).
///
/// Never contains a secret (SECURITY S11): the underlying cause is a GError's domain, code
/// and message, which name D-Bus objects and services, never item contents; a `.corrupt`
/// item is described by its connection only, not by what it holds.
public struct KeyringError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kinds of failure that callers act on differently.
    public enum Code: String, Sendable, Hashable {
        /// The item (or the collection it would go to) is locked. Not "no token".
        case locked
        /// No Secret Service: no D-Bus session bus, or nothing owns `org.freedesktop.secrets`.
        case unavailable
        /// The Secret Service did not answer within the store's time bound.
        case timedOut
        /// The item's secret is not a token set written by this agent.
        case corrupt
        /// Anything else the Secret Service reported.
        case other
    }

    /// The cause as GLib reported it (`GError`), or as this module names it.
    public struct Underlying: Sendable, Hashable, CustomStringConvertible {
        /// The GError domain, e.g. `g-dbus-error-quark`, `secret-error`, `g-io-error-quark`.
        public var domain: String
        public var code: Int
        public var message: String

        public init(domain: String, code: Int, message: String) {
            self.domain = domain
            self.code = code
            self.message = message
        }

        public var description: String { "\(domain) \(code): \(message)" }
    }

    public var code: Code
    public var underlying: Underlying?
    /// The connection whose item was involved, when there is one.
    public var connection: String?
    /// The bound that expired, for `.timedOut`.
    public var timeout: Duration?

    public init(
        code: Code, underlying: Underlying? = nil, connection: String? = nil,
        timeout: Duration? = nil
    ) {
        self.code = code
        self.underlying = underlying
        self.connection = connection
        self.timeout = timeout
    }

    /// What happened and what the user can do about it, in one or two sentences.
    public var description: String {
        let cause = underlying.map { " (\($0.message))" } ?? ""
        switch code {
        case .locked:
            return "The login keyring is locked. Unlock it (log in to the desktop session, or run "
                + "`secret-tool lookup xdg:schema \(TokenSchema.name)` to be prompted) and retry."
        case .unavailable:
            return "No Secret Service is reachable on the D-Bus session bus\(cause). Run the agent "
                + "inside your desktop session (DBUS_SESSION_BUS_ADDRESS set, gnome-keyring-daemon "
                + "running: `gnome-keyring-daemon --start --components=secrets`), or opt in to "
                + "tokens that are lost when the agent exits with `jira-auth-agent serve --memory-store`."
        case .timedOut:
            let bound = timeout.map { " within \(Self.seconds($0))" } ?? ""
            return "The Secret Service did not answer\(bound). gnome-keyring-daemon may be hung: "
                + "restart it "
                + "(`systemctl --user restart gnome-keyring-daemon`, or log out and in) and retry."
        case .corrupt:
            let which = connection.map { "connection \($0)" } ?? "this connection"
            let clear = "secret-tool clear xdg:schema \(TokenSchema.name) connection \(connection ?? "<id>")"
            return "The keyring item for \(which) does not hold a jira-auth-agent token set. "
                + "Remove it with `\(clear)` and authorize again."
        case .other:
            return "The Secret Service reported an error\(cause). Check that gnome-keyring-daemon "
                + "runs in your session (`secret-tool search --all xdg:schema \(TokenSchema.name)`) and retry."
        }
    }

    private static func seconds(_ duration: Duration) -> String {
        let (s, atto) = duration.components
        let tenths = atto / 100_000_000_000_000_000
        return tenths == 0 ? "\(s) s" : "\(s).\(tenths) s"
    }
}
