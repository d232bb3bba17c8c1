import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Prepares the token API's socket path (DESIGN §6): the directory exists with mode 0700
/// and belongs to us; a stale socket file is removed, a live one means another agent runs.
enum UnixSocketPath {
    static func prepare(_ path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
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
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }

    private static func failure(_ what: String) -> AgentError {
        AgentError(.internalError, "\(what) (errno \(errno))")
    }
}
