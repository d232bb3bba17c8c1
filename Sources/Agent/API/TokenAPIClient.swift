public import FoundationEssentials
public import OAuth
import LocalSocket
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

    public func call(_ method: String, _ path: String, json: [String: JSONValue]? = nil) throws -> Response {
        let body = try json.map { try JSONEncoder().encode($0) } ?? Data()
        var request = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAccept: application/json\r\n"
        if !body.isEmpty || method == "POST" {
            request += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        }
        request += "\r\n"
        var bytes = Array(request.utf8)
        bytes.append(contentsOf: body)
        switch UnixSocket.exchange(bytes, path: socketPath, timeoutSeconds: timeout) {
        case .success(let received):
            return try Self.parse(received)
        case .failure(.connect), .failure(.pathTooLong):
            throw notRunning()
        case .failure(.timedOut):
            throw AgentError(.transient, "The agent did not answer within \(timeout) s.")
        case .failure(.tooLarge):
            throw AgentError(.protocolViolation, "The agent's answer is too large.")
        case .failure(.write(let e)), .failure(.read(let e)):
            throw AgentError(.transient, "The exchange with the agent failed: \(String(cString: strerror(e))).")
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
               let length = Int(parts[1].trimmingASCIISpaces()), length <= body.count {
                body = Array(body[..<length])
            }
        }
        return Response(status: status, body: Data(body))
    }

    private func notRunning() -> AgentError {
        AgentError(.agentNotRunning, "No jira-auth-agent is running (nothing answers on \(socketPath)). Start it: systemctl --user start jira-auth-agent (or run `jira-auth-agent serve` in a terminal).")
    }
}
