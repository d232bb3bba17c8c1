import CAgentSystem
#if canImport(Glibc)
import Glibc
#endif

/// Cheap hardening against leak observers (SECURITY, "who we defend against" 5): no core
/// files, not dumpable (no ptrace attach or /proc/PID/mem by other same-user processes),
/// files created private.
public enum ProcessHardening {
    public static func apply() {
        var limit = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
        _ = csystem_set_not_dumpable()
        _ = umask(0o077)
    }

    public static var isDumpable: Bool { csystem_is_dumpable() == 1 }
}
