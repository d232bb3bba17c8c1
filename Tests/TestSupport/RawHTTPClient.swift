import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP/1.1 client on a raw socket for proxy tests: sends exactly the bytes a
/// test writes (forbidden header combinations included) and parses one response.
public final class RawHTTPClient {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        /// Body bytes seen (also when `discardBody`).
        public var bodySize: Int
        public var text: String { String(decoding: body, as: UTF8.self) }
        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    public let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects to 127.0.0.1:`port`. `receiveBuffer` sets `SO_RCVBUF` before connecting (it
    /// fixes the TCP window), for a client that takes in little until it reads.
    public init(tcpPort port: Int, receiveBuffer: Int? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer.map(Int32.init) {
            guard setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                close(fd); throw POSIXError(.EINVAL)
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0 else { close(fd); throw POSIXError(.ECONNREFUSED) }
    }

    /// Connects to the Unix socket at `path`.
    public init(unixPath path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes); raw[bytes.count] = 0 }
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else { close(fd); throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(fd) }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw POSIXError(.EPIPE) }
            sent += n
        }
    }

    /// Reads one response. `discardBody` counts body bytes without keeping them.
    public func readResponse(discardBody: Bool = false, headRequest: Bool = false) throws -> Response {
        while true {
            if let end = find([13, 10, 13, 10]) {
                let headText = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end + 4)
                var lines = headText.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst().split(separator: " ")
                let status = Int(statusLine[1]) ?? 0
                let headers = lines.compactMap { line -> (name: String, value: String)? in
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
                }
                var response = Response(status: status, headers: headers, body: [], bodySize: 0)
                if status == 100 { continue }
                if headRequest || status == 204 || status == 304 { return response }
                if let cl = response.header("content-length").flatMap(Int.init) {
                    try readBody(count: cl, into: &response, discard: discardBody)
                } else if response.header("transfer-encoding")?.lowercased() == "chunked" {
                    while true {
                        let line = try readLine()
                        let size = Int(line.split(separator: ";")[0], radix: 16) ?? 0
                        if size == 0 { _ = try readLine(); break }
                        try readBody(count: size, into: &response, discard: discardBody)
                        _ = try readLine()
                    }
                } else {
                    while try fill() {}
                    response.bodySize = buffer.count
                    response.body = discardBody ? [] : buffer
                    buffer = []
                }
                return response
            }
            guard try fill() else { throw POSIXError(.ECONNRESET) }
        }
    }

    /// Waits until there is something to read (or the peer closed), at most `timeout`
    /// seconds; false if nothing came.
    public func waitUntilReadable(timeout: Double) -> Bool {
        if !buffer.isEmpty { return true }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, Int32(timeout * 1000)) > 0
    }

    /// Whether the server has closed the connection (EOF with nothing pending).
    public func isClosedByPeer() -> Bool {
        switch Result(catching: { try fill() }) {
        case .success(let more): return !more
        case .failure: return true  // reset
        }
    }

    private func readBody(count: Int, into response: inout Response, discard: Bool) throws {
        var left = count
        while left > 0 {
            if buffer.isEmpty { guard try fill() else { throw POSIXError(.ECONNRESET) } }
            let take = min(left, buffer.count)
            if !discard { response.body += buffer[..<take] }
            response.bodySize += take
            buffer.removeFirst(take)
            left -= take
        }
    }

    private func readLine() throws -> String {
        while true {
            if let end = find([13, 10]) {
                let line = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end + 2)
                return line
            }
            guard try fill() else { throw POSIXError(.ECONNRESET) }
        }
    }

    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { throw POSIXError(.EIO) }
        if n == 0 { return false }
        buffer += chunk[..<n]
        return true
    }

    private func find(_ needle: [UInt8]) -> Int? {
        guard buffer.count >= needle.count else { return nil }
        for i in 0...(buffer.count - needle.count) where buffer[i] == needle[0] {
            if Array(buffer[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}

/// The resident set size of this process in bytes (`VmRSS` of /proc/self/status).
public func currentRSS() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Int(line.split(separator: " ")[1]) else { return 0 }
    return kb * 1024
}

/// Runs blocking socket I/O on its own thread, so that tests never block the (small)
/// cooperative pool that the code under test needs.
public func offloaded<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

/// Resets the peak RSS (`VmHWM`) of this process (`/proc/self/clear_refs`, Linux ≥ 4.0).
public func resetPeakRSS() {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

/// The peak resident set size since the last `resetPeakRSS()`, in bytes (`VmHWM`).
public func peakRSS() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kb = Int(line.split(separator: " ")[1]) else { return 0 }
    return kb * 1024
}
