import NIOHTTP1

/// Which local listener a request arrived on; decides the `Host` allowlist.
enum ListenerKind: Sendable, Equatable {
    case tcp(port: Int)
    case unixSocket(tcpPort: Int?)
}

/// A request the agent refuses before anything is forwarded: status, the error code of the
/// local error shape, and a sentence for the caller.
struct RequestRefusal: Error, Equatable {
    let status: HTTPResponseStatus
    let code: String
    let message: String
}

/// The checks every request passes before it reaches the proxy or the token API
/// (SECURITY S9): exact `Host` allowlist against DNS rebinding, no browser cross-site
/// requests, unambiguous framing (RFC 9112 §6.3: `Transfer-Encoding` with `Content-Length`
/// is a smuggling vector), bounded body size.
enum RequestScreen {
    static func check(_ head: HTTPRequestHead, listener: ListenerKind, maxBodySize: Int64) -> RequestRefusal? {
        let hosts = head.headers["host"]
        if hosts.count > 1 {
            return RequestRefusal(status: .badRequest, code: "bad_request", message: "more than one Host header")
        }
        if let host = hosts.first {
            if !isAllowed(host: host, listener: listener) {
                return RequestRefusal(status: .misdirectedRequest, code: "host_not_allowed",
                    message: "Host '\(host.prefix(100))' is not this agent's address; use \(suggestedHost(listener))")
            }
        } else if head.version.minor >= 1, case .tcp = listener {
            return RequestRefusal(status: .badRequest, code: "bad_request", message: "the request has no Host header")
        }
        if head.headers.contains(name: "origin") {
            return RequestRefusal(status: .forbidden, code: "cross_site_request",
                message: "requests from web pages (with an Origin header) are refused")
        }
        if let site = head.headers.first(name: "sec-fetch-site"), site.lowercased() != "none" {
            return RequestRefusal(status: .forbidden, code: "cross_site_request",
                message: "requests from web pages (Sec-Fetch-Site: \(site.prefix(20))) are refused")
        }
        let te = head.headers.contains(name: "transfer-encoding")
        let cls = head.headers["content-length"]
        if te && !cls.isEmpty {
            return RequestRefusal(status: .badRequest, code: "bad_request",
                message: "Transfer-Encoding and Content-Length together are refused (RFC 9112 §6.3)")
        }
        if cls.count > 1 && Set(cls).count > 1 {
            return RequestRefusal(status: .badRequest, code: "bad_request", message: "conflicting Content-Length headers")
        }
        if let cl = cls.first {
            guard let length = Int64(cl), length >= 0 else {
                return RequestRefusal(status: .badRequest, code: "bad_request", message: "invalid Content-Length")
            }
            if length > maxBodySize {
                return RequestRefusal(status: .payloadTooLarge, code: "body_too_large",
                    message: "the request body exceeds the agent's limit of \(maxBodySize) bytes")
            }
        }
        if head.method == .CONNECT || !head.uri.hasPrefix("/") {
            return RequestRefusal(status: .badRequest, code: "bad_request", message: "only origin-form request targets are served")
        }
        return nil
    }

    /// Exact match, case-insensitive: `127.0.0.1:<port>`, `localhost:<port>`,
    /// `[::1]:<port>`; on the Unix socket also `localhost` without a port.
    static func isAllowed(host: String, listener: ListenerKind) -> Bool {
        let h = host.lowercased()
        switch listener {
        case .tcp(let port):
            return matchesLoopback(h, port: port)
        case .unixSocket(let port):
            if h == "localhost" { return true }
            if let port { return matchesLoopback(h, port: port) }
            return false
        }
    }

    private static func matchesLoopback(_ h: String, port: Int) -> Bool {
        guard let colon = h.lastIndex(of: ":"), h[h.index(after: colon)...] == String(port) else { return false }
        switch h[..<colon] {
        case "127.0.0.1", "localhost", "[::1]": return true
        default: return false
        }
    }

    private static func suggestedHost(_ listener: ListenerKind) -> String {
        switch listener {
        case .tcp(let port): return "127.0.0.1:\(port)"
        case .unixSocket: return "localhost"
        }
    }
}
