import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// One agent per user (SECURITY S6): an exclusive `flock` on `agent.lock`, held for the
/// life of the process and released by the kernel even after SIGKILL.
public final class InstanceLock: Sendable {
    private let fd: Int32

    public init(path: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw AgentError(.configuration, "Cannot open the lock file \(path): \(String(cString: strerror(errno))).")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw AgentError(.alreadyRunning, "Another jira-auth-agent is already running for this user (lock \(path) is held). Use it (`jira-auth-agent status`), or stop it first: systemctl --user stop jira-auth-agent")
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Whether a process holds the lock at `path` now (without taking it).
    public static func isHeld(path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard flock(fd, LOCK_SH | LOCK_NB) == 0 else { return errno == EWOULDBLOCK }
        flock(fd, LOCK_UN)
        return false
    }
}
