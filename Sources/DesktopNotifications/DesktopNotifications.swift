import CGio
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Desktop notifications in process (org.freedesktop.Notifications over GIO's D-Bus client,
/// already loaded with libsecret) instead of spawning `gdbus`: a notification per `key`
/// replaces the previous one with that key (`replaces_id`) rather than stacking, and its
/// action buttons call back into the agent (the `ActionInvoked` signal).
///
/// One thread runs a private GLib main context: the bus connection, the calls and the
/// signal subscription all live on it, so no GLib callback ever runs on a Swift
/// concurrency thread. Best effort: without a session bus or a notification service
/// nothing is shown, and `show` never blocks its caller.
public final class DesktopNotifications: @unchecked Sendable {
    public typealias ActionHandler = @Sendable (_ action: String) -> Void

    /// Touched only on the GLib thread.
    private var connection: OpaquePointer?
    private var subscribed = false
    private var ids: [String: UInt32] = [:]
    private var handlers: [UInt32: ActionHandler] = [:]
    private let context: OpaquePointer
    private let appName: String

    public init(appName: String = "jira-auth-agent") {
        self.appName = appName
        context = g_main_context_new()
        let thread = Thread(context: context)
        thread.start()
    }

    /// Shows (or replaces) the notification `key`. `actions`: `(id, label)` pairs; when one
    /// is clicked, `onAction` gets its id.
    public func show(key: String, summary: String, body: String, icon: String = "dialog-password",
                     actions: [(id: String, label: String)] = [], onAction: ActionHandler? = nil) {
        let job = Job(owner: self, key: key, summary: summary, body: body, icon: icon, actions: actions, onAction: onAction)
        let box = Unmanaged.passRetained(job).toOpaque()
        g_main_context_invoke(context, { data in
            let job = Unmanaged<Job>.fromOpaque(data!).takeRetainedValue()
            job.owner.notify(job)
            return 0   // G_SOURCE_REMOVE
        }, box)
    }

    private final class Job {
        let owner: DesktopNotifications
        let key, summary, body, icon: String
        let actions: [(id: String, label: String)]
        let onAction: ActionHandler?
        init(owner: DesktopNotifications, key: String, summary: String, body: String, icon: String,
             actions: [(id: String, label: String)], onAction: ActionHandler?) {
            self.owner = owner; self.key = key; self.summary = summary; self.body = body; self.icon = icon
            self.actions = actions; self.onAction = onAction
        }
    }

    /// On the GLib thread.
    private func notify(_ job: Job) {
        guard let connection = bus() else { return }
        let strings = job.actions.flatMap { [$0.id, $0.label] }
        let actions = withCStrings(strings) { g_variant_new_strv($0, gssize(strings.count)) }
        let hintsType = g_variant_type_new("{sv}")
        let hints = g_variant_new_array(hintsType, nil, 0)
        g_variant_type_free(hintsType)
        var children: [OpaquePointer?] = [
            g_variant_new_string(appName), g_variant_new_uint32(ids[job.key] ?? 0), g_variant_new_string(job.icon),
            g_variant_new_string(job.summary), g_variant_new_string(job.body), actions, hints, g_variant_new_int32(-1),
        ]
        let parameters = children.withUnsafeMutableBufferPointer { g_variant_new_tuple($0.baseAddress, gsize($0.count)) }
        let replyType = g_variant_type_new("(u)")
        defer { g_variant_type_free(replyType) }
        var error: UnsafeMutablePointer<GError>?
        let reply = g_dbus_connection_call_sync(connection, "org.freedesktop.Notifications", "/org/freedesktop/Notifications",
                                                "org.freedesktop.Notifications", "Notify", parameters, replyType,
                                                G_DBUS_CALL_FLAGS_NONE, 3000, nil, &error)
        if let error { g_error_free(error) }
        guard let reply else { return }
        let child = g_variant_get_child_value(reply, 0)
        let id = g_variant_get_uint32(child)
        g_variant_unref(child)
        g_variant_unref(reply)
        if let old = ids[job.key], old != id { handlers[old] = nil }
        ids[job.key] = id
        handlers[id] = job.onAction
    }

    /// The session bus, and the `ActionInvoked` subscription on this thread's context.
    private func bus() -> OpaquePointer? {
        if let connection { return connection }
        var error: UnsafeMutablePointer<GError>?
        connection = g_bus_get_sync(G_BUS_TYPE_SESSION, nil, &error)
        if let error { g_error_free(error) }
        guard let connection, !subscribed else { return connection }
        subscribed = true
        _ = g_dbus_connection_signal_subscribe(
            connection, "org.freedesktop.Notifications", "org.freedesktop.Notifications", "ActionInvoked",
            "/org/freedesktop/Notifications", nil, G_DBUS_SIGNAL_FLAGS_NONE,
            { _, _, _, _, _, parameters, data in
                guard let parameters, let data, String(cString: g_variant_get_type_string(parameters)) == "(us)" else { return }
                let owner = Unmanaged<DesktopNotifications>.fromOpaque(data).takeUnretainedValue()
                let first = g_variant_get_child_value(parameters, 0), second = g_variant_get_child_value(parameters, 1)
                defer { g_variant_unref(first); g_variant_unref(second) }
                let id = g_variant_get_uint32(first)
                let action = String(cString: g_variant_get_string(second, nil))
                if let handler = owner.handlers[id] {
                    DispatchQueue.global().async { handler(action) }
                }
            },
            Unmanaged.passUnretained(self).toOpaque(), nil)
        return connection
    }

    /// Runs the private main context for the life of the process.
    private final class Thread {
        let context: OpaquePointer
        init(context: OpaquePointer) { self.context = context }
        func start() {
            let box = Unmanaged.passRetained(self).toOpaque()
            var thread = pthread_t()
            _ = pthread_create(&thread, nil, { data in
                let me = Unmanaged<Thread>.fromOpaque(data!).takeRetainedValue()
                g_main_context_push_thread_default(me.context)
                let loop = g_main_loop_new(me.context, 0)
                g_main_loop_run(loop)
                return nil
            }, box)
            pthread_detach(thread)
        }
    }
}

/// `strings` as a NULL-terminated `char **` for the duration of `body`.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<gchar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { buffer in
        buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<gchar>?.self, capacity: buffer.count) { body($0) }
    }
}
