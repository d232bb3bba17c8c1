import LocalSocket
#if canImport(Glibc)
import Glibc
#endif

/// A `token` invocation the front can answer on its own: `[NAME] [--min-valid N]
/// [--socket PATH] [--auth-header]`, not interactive. Anything else is left to the full CLI.
struct TokenRequest {
    var connection = "default"
    var minValid = 30
    var socket: String?
    /// Print `Authorization: Bearer <token>`, for `curl -H @-`.
    var authHeader = false

    init?(arguments: [String]) {
        var rest = arguments[...]
        var sawName = false
        while let arg = rest.popFirst() {
            func value() -> String? {
                if let eq = arg.firstIndex(of: "=") { return String(arg[arg.index(after: eq)...]) }
                return rest.popFirst()
            }
            if arg == "--min-valid" || arg.hasPrefix("--min-valid=") {
                guard let v = value(), let n = Int(v), n >= 0 else { return nil }
                minValid = n
            } else if arg == "--socket" || arg.hasPrefix("--socket=") {
                guard let v = value(), !v.isEmpty else { return nil }
                socket = v
            } else if arg == "--auth-header" {
                authHeader = true
            } else if !arg.hasPrefix("-"), !sawName, arg.utf8.allSatisfy(Self.isNameByte) {
                connection = arg
                sawName = true
            } else {
                return nil   // --interactive, --help, unknown flags, odd names: the full CLI
            }
        }
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x3A
    }

    var socketPath: String? {
        if let socket { return socket }
        if let dir = Environment.get("JIRA_AUTH_AGENT_RUNTIME_DIR"), !dir.isEmpty { return dir + "/agent.sock" }
        if let runtime = Environment.get("XDG_RUNTIME_DIR"), !runtime.isEmpty { return runtime + "/jira-auth-agent/agent.sock" }
        return nil
    }

    /// The line to print for `token`.
    func line(for token: String) -> String {
        (authHeader ? "Authorization: Bearer " : "") + token + "\n"
    }

    enum Answer {
        case token(String)
        /// 403 `token_not_released`: this program may not have raw tokens. Answered here,
        /// since handing over to the full CLI would ask (and be refused, and recorded) twice.
        case notReleased(message: String)
    }

    /// The agent's answer, or nil for anything else (the full CLI then asks and explains).
    func fetch() -> Answer? {
        guard let path = socketPath else { return nil }
        let body = "{\"min_valid\":\(minValid),\"interactive\":false}"
        let request = "POST /v1/connections/\(connection)/token HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        guard case .success(let response) = UnixSocket.exchange(Array(request.utf8), path: path, timeoutSeconds: 30) else { return nil }
        if let token = Self.accessToken(in: response) { return .token(token) }
        if response.starts(with: Array("HTTP/1.1 403 ".utf8)), let bodyStart = response.firstRange(of: [13, 10, 13, 10])?.upperBound,
           JSONField.string(named: "error", in: response[bodyStart...]) == "token_not_released",
           let message = JSONField.string(named: "message", in: response[bodyStart...]) {
            return .notReleased(message: message)
        }
        return nil
    }

    /// `HTTP/1.1 200` and the `access_token` string of the agent's JSON answer.
    static func accessToken(in response: [UInt8]) -> String? {
        guard response.starts(with: Array("HTTP/1.1 200 ".utf8)) else { return nil }
        guard let bodyStart = response.firstRange(of: [13, 10, 13, 10])?.upperBound else { return nil }
        return JSONField.string(named: "access_token", in: response[bodyStart...])
    }
}

enum Environment {
    static func get(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}
