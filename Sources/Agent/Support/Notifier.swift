import Foundation

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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "gdbus", "call", "--session", "--timeout", "3", "--dest", "org.freedesktop.Notifications",
            "--object-path", "/org/freedesktop/Notifications", "--method", "org.freedesktop.Notifications.Notify",
            "jira-auth-agent", "0", "dialog-password", summary, body, "[]", "{}", "-1",
        ]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
    }
}
