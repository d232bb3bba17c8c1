// C-touching file (STYLE §8): the one place where a GError becomes a Swift error.
import CLibSecret

extension KeyringError {
    /// Throws the `KeyringError` for `error` when it is set, and frees it (the only
    /// `g_error_free` of the module). Call it right after every libsecret call that takes a
    /// `GError **`.
    ///
    /// Classification (measured, TEST-STACK-NOTES "Secret Service"):
    /// - `secret-error` 2 (`SECRET_ERROR_IS_LOCKED`) → `.locked`;
    /// - `g-dbus-error-quark` ServiceUnknown (nothing provides `org.freedesktop.secrets`),
    ///   NameHasNoOwner, NoServer, Disconnected, failed activation, and `g-io-error-quark`
    ///   0 (no bus address) or a socket that cannot be reached → `.unavailable`;
    /// - D-Bus NoReply/Timeout/TimedOut, GIO TimedOut and Cancelled (our deadline trips a
    ///   `GCancellable`) → `.timedOut`;
    /// - anything else → `.other`.
    static func check(_ error: inout UnsafeMutablePointer<GError>?, connection: String?) throws {
        guard let gerror = error else { return }
        error = nil
        defer { g_error_free(gerror) }
        let domain = gerror.pointee.domain
        let code = gerror.pointee.code
        let underlying = Underlying(
            domain: g_quark_to_string(domain).map { String(cString: $0) } ?? "unknown",
            code: Int(code),
            message: gerror.pointee.message.map { String(cString: $0) } ?? "")
        throw KeyringError(
            code: classify(domain: domain, code: code), underlying: underlying,
            connection: connection)
    }

    private static func classify(domain: GQuark, code: gint) -> Code {
        func matches<E: RawRepresentable>(_ values: E...) -> Bool where E.RawValue == UInt32 {
            values.contains { gint(bitPattern: $0.rawValue) == code }
        }
        switch domain {
        case secret_error_get_quark():
            return matches(SECRET_ERROR_IS_LOCKED) ? .locked : .other
        case g_dbus_error_quark():
            if matches(
                G_DBUS_ERROR_SERVICE_UNKNOWN, G_DBUS_ERROR_NAME_HAS_NO_OWNER,
                G_DBUS_ERROR_NO_SERVER, G_DBUS_ERROR_DISCONNECTED, G_DBUS_ERROR_SPAWN_EXEC_FAILED,
                G_DBUS_ERROR_SPAWN_CHILD_EXITED, G_DBUS_ERROR_SPAWN_CHILD_SIGNALED,
                G_DBUS_ERROR_SPAWN_FAILED, G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND)
            {
                return .unavailable
            }
            return matches(G_DBUS_ERROR_NO_REPLY, G_DBUS_ERROR_TIMEOUT, G_DBUS_ERROR_TIMED_OUT)
                ? .timedOut : .other
        case g_io_error_quark():
            if matches(
                G_IO_ERROR_FAILED, G_IO_ERROR_NOT_FOUND, G_IO_ERROR_CONNECTION_REFUSED,
                G_IO_ERROR_CLOSED, G_IO_ERROR_BROKEN_PIPE, G_IO_ERROR_NOT_CONNECTED)
            {
                return .unavailable
            }
            return matches(G_IO_ERROR_CANCELLED, G_IO_ERROR_TIMED_OUT) ? .timedOut : .other
        default:
            return .other
        }
    }

    /// An item went away under our feet: `secret-error` 3 (`SECRET_ERROR_NO_SUCH_OBJECT`), or
    /// the `g-dbus-error-quark` UnknownMethod that libsecret sets ("No such secret item at
    /// path") when an item found by a search is gone before its properties are loaded.
    var isVanishedItem: Bool {
        guard let underlying else { return false }
        switch underlying.domain {
        case "secret-error": return underlying.code == Int(SECRET_ERROR_NO_SUCH_OBJECT.rawValue)
        case "g-dbus-error-quark": return underlying.code == Int(G_DBUS_ERROR_UNKNOWN_METHOD.rawValue)
        default: return false
        }
    }
}
