public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The CLI's side of the token API: one blocking HTTP/1.1 exchange over the Unix socket.
/// Plain system calls, no event loop: `jira-auth-agent token` is a whole process per call
/// and must start, ask and exit in a few milliseconds.
public struct TokenAPIClient: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var body: Data
    }

    public let socketPath: String
    /// Seconds to wait for an answer; interactive calls (a browser login) need minutes.
    public var timeout: Int

    public init(socketPath: String, timeout: Int = 30) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    public func call(_ method: String, _ path: String, json: [String: any Sendable]? = nil) throws -> Response {
        let body = try json.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw notRunning() }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw AgentError(.configuration, "The socket path \(socketPath) is too long.")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw notRunning() }
        var request = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAccept: application/json\r\n"
        if !body.isEmpty || method == "POST" {
            request += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        }
        request += "\r\n"
        var bytes = Array(request.utf8)
        bytes.append(contentsOf: body)
        try writeAll(fd, bytes)
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 { received.append(contentsOf: buffer[0..<n]); continue }
            if n == 0 { break }
            if errno == EINTR { continue }
            throw AgentError(.transient, errno == EAGAIN ? "The agent did not answer within \(timeout) s." : "Reading from the agent failed: \(String(cString: strerror(errno))).")
        }
        return try Self.parse(received)
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AgentError(.transient, "Writing to the agent failed: \(String(cString: strerror(errno))).")
            }
            offset += n
        }
    }

    /// Status line, headers (Content-Length or close-delimited), body.
    static func parse(_ bytes: [UInt8]) throws -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let headerEnd = bytes.firstRange(of: separator),
              let head = String(bytes: bytes[..<headerEnd.lowerBound], encoding: .utf8) else {
            throw AgentError(.protocolViolation, "The agent's answer is not HTTP.")
        }
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let fields = statusLine.split(separator: " ")
        guard fields.count >= 2, let status = Int(fields[1]) else {
            throw AgentError(.protocolViolation, "The agent's answer has no status.")
        }
        var body = Array(bytes[headerEnd.upperBound...])
        for line in head.split(separator: "\r\n").dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length",
               let length = Int(parts[1].trimmingCharacters(in: .whitespaces)), length <= body.count {
                body = Array(body[..<length])
            }
        }
        return Response(status: status, body: Data(body))
    }

    private func notRunning() -> AgentError {
        AgentError(.agentNotRunning, "No jira-auth-agent is running (nothing answers on \(socketPath)). Start it: systemctl --user start jira-auth-agent (or run `jira-auth-agent serve` in a terminal).")
    }
}
