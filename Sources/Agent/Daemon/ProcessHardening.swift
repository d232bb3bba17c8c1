import CAgentSystem
#if canImport(Glibc)
import Glibc
#endif

/// Cheap hardening against leak observers (SECURITY, "who we defend against" 5): no core
/// files, not dumpable (no ptrace attach or /proc/PID/mem by other same-user processes).
/// The umask is left alone: the agent creates its few files with explicit modes, and a
/// browser it starts must not inherit a surprising umask.
public enum ProcessHardening {
    public static func apply() {
        var limit = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
        _ = csystem_set_not_dumpable()
    }

    public static var isDumpable: Bool { csystem_is_dumpable() == 1 }
}
