import FoundationEssentials
import LocalSocket
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Prepares the token API's socket path (DESIGN §6): the directory exists with mode 0700
/// and belongs to us; a stale socket file is removed, a live one means another agent runs.
enum UnixSocketPath {
    static func prepare(_ path: String) throws {
        let directory = path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        var info = stat()
        if stat(directory, &info) != 0 {
            guard errno == ENOENT else { throw failure("cannot inspect \(directory)") }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            guard stat(directory, &info) == 0 else { throw failure("cannot create \(directory)") }
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw failure("\(directory) is not a directory") }
        guard info.st_uid == geteuid() else {
            throw AgentError(.configuration, "\(directory) belongs to another user; remove it or set XDG_RUNTIME_DIR")
        }
        if info.st_mode & 0o777 != 0o700, chmod(directory, 0o700) != 0 {
            throw failure("cannot set mode 0700 on \(directory)")
        }
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw AgentError(.configuration, "\(path) exists and is not a socket; remove it")
            }
            if isLive(path) {
                throw AgentError(.alreadyRunning, "another agent already listens on \(path)")
            }
            guard unlink(path) == 0 || errno == ENOENT else { throw failure("cannot remove the stale socket \(path)") }
        }
    }

    /// Whether something accepts connections on the socket.
    static func isLive(_ path: String) -> Bool {
        guard case .success(let fd) = UnixSocket.connect(path: path) else { return false }
        close(fd)
        return true
    }

    private static func failure(_ what: String) -> AgentError {
        AgentError(.internalError, "\(what) (errno \(errno))")
    }
}
