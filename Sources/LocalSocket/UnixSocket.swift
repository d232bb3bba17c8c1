#if canImport(Glibc)
import Glibc
#endif

/// Blocking client calls on a Unix stream socket, with no Foundation and no event loop:
/// shared by the front binary (`jira-auth-agent token`), the CLI's token-API client and the
/// agent's stale-socket check. One request, the whole answer, then close.
public enum UnixSocket {
    /// Why an exchange failed; `errno` values where the system gave one.
    public enum Failure: Error, Equatable {
        case pathTooLong
        case connect(errno: Int32)
        case write(errno: Int32)
        case read(errno: Int32)
        /// No answer within the receive timeout.
        case timedOut
        /// The answer exceeded the limit.
        case tooLarge
    }

    /// A connected close-on-exec socket, or the failure. The caller closes the descriptor.
    public static func connect(path: String, receiveTimeoutSeconds: Int? = nil) -> Result<Int32, Failure> {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return .failure(.pathTooLong) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(.connect(errno: errno)) }
        if let seconds = receiveTimeoutSeconds {
            var tv = timeval(tv_sec: seconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let saved = errno
            close(fd)
            return .failure(.connect(errno: saved))
        }
        return .success(fd)
    }

    /// Sends `request` and reads until the peer closes.
    public static func exchange(_ request: [UInt8], path: String, timeoutSeconds: Int, limit: Int = 1 << 20) -> Result<[UInt8], Failure> {
        let fd: Int32
        switch connect(path: path, receiveTimeoutSeconds: timeoutSeconds) {
        case .success(let d): fd = d
        case .failure(let f): return .failure(f)
        }
        defer { close(fd) }
        var offset = 0
        while offset < request.count {
            let n = request[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(.write(errno: errno))
            }
            offset += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 {
                response.append(contentsOf: buffer[0..<n])
                if response.count > limit { return .failure(.tooLarge) }
                continue
            }
            if n == 0 { return .success(response) }
            if errno == EINTR { continue }
            return .failure(errno == EAGAIN || errno == EWOULDBLOCK ? .timedOut : .read(errno: errno))
        }
    }
}
