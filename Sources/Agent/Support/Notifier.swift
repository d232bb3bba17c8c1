import DesktopNotifications

/// Desktop notifications from the sessions. Best effort: without a notification service
/// the notice is only in the log and in `status`.
public struct Notifier: Sendable {
    /// One notification. Notices with the same `key` replace each other on screen.
    public struct Notice: Sendable {
        public var key: String
        public var summary: String
        public var body: String
        /// A button, e.g. "Sign in", and what it does.
        public var action: (label: String, run: @Sendable () -> Void)?

        public init(key: String, summary: String, body: String, action: (label: String, run: @Sendable () -> Void)? = nil) {
            self.key = key
            self.summary = summary
            self.body = body
            self.action = action
        }
    }

    public var send: @Sendable (Notice) -> Void

    public init(send: @escaping @Sendable (Notice) -> Void) {
        self.send = send
    }

    public static let none = Notifier { _ in }

    /// org.freedesktop.Notifications on the session bus, in process (GIO).
    public static let desktop: Notifier = {
        let notifications = DesktopNotifications()
        return Notifier { notice in
            var actions: [(id: String, label: String)] = []
            var onAction: DesktopNotifications.ActionHandler?
            if let action = notice.action {
                // "default" is the click on the notice itself (desktops draw no button for it);
                // "sign-in" is the button.
                actions = [(id: "default", label: action.label), (id: "sign-in", label: action.label)]
                let run = action.run
                onAction = { _ in run() }
            }
            notifications.show(key: notice.key, summary: notice.summary, body: notice.body, actions: actions, onAction: onAction)
        }
    }()
}
