import FoundationEssentials

/// Desktop notifications (org.freedesktop.Notifications over D-Bus, through `gdbus`).
/// Best effort: without a notification service the message is only logged.
public struct Notifier: Sendable {
    public var send: @Sendable (_ summary: String, _ body: String) -> Void

    public init(send: @escaping @Sendable (_ summary: String, _ body: String) -> Void) {
        self.send = send
    }

    public static let none = Notifier { _, _ in }

    /// Calls `org.freedesktop.Notifications.Notify` with `gdbus`; failures are ignored.
    public static let desktop = Notifier { summary, body in
        ChildProcess.startDetached([
            "gdbus", "call", "--session", "--timeout", "3", "--dest", "org.freedesktop.Notifications",
            "--object-path", "/org/freedesktop/Notifications", "--method", "org.freedesktop.Notifications.Notify",
            "jira-auth-agent", "0", "dialog-password", summary, body, "[]", "{}", "-1",
        ], environment: ProcessInfo.processInfo.environment)
    }
}
