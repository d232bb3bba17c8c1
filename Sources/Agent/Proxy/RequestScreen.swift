import NIOCore
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
/// requests, bounded body size, origin-form targets. Unambiguous framing (RFC 9112 §6.3:
/// `Transfer-Encoding` with `Content-Length` is a smuggling vector) is the parser's
/// (`ClientRequestParser`): a head that reaches here has one.
enum RequestScreen {
    static func check(_ head: ClientRequestHead, listener: ListenerKind, maxBodySize: Int64) -> RequestRefusal? {
        // One pass over the fields (names compared case-insensitively, on the bytes), then
        // the checks in their order.
        var hostCount = 0, host: HTTP1Field?
        var origin = false
        var site: HTTP1Field?
        let allowed: Bool? = head.withBytes { raw in
            for field in head.fields {
                switch field.name.count {
                case 4 where ASCIICaseless.equal(raw, field.name, "host"):
                    hostCount += 1
                    if host == nil { host = field }
                case 6 where ASCIICaseless.equal(raw, field.name, "origin"):
                    origin = true
                case 14 where ASCIICaseless.equal(raw, field.name, "sec-fetch-site"):
                    if site == nil { site = field }
                default:
                    break
                }
            }
            return host.map { isAllowed(host: UnsafeRawBufferPointer(rebasing: raw[$0.value]), listener: listener) }
        }
        if hostCount > 1 {
            return RequestRefusal(status: .badRequest, code: "bad_request", message: "more than one Host header")
        }
        if let host, let allowed {
            if !allowed {
                return RequestRefusal(status: .misdirectedRequest, code: "host_not_allowed",
                    message: "Host '\(head.string(host).prefix(100))' is not this agent's address; use \(suggestedHost(listener))")
            }
        } else if head.minorVersion >= 1, case .tcp = listener {
            return RequestRefusal(status: .badRequest, code: "bad_request", message: "the request has no Host header")
        }
        if origin {
            return RequestRefusal(status: .forbidden, code: "cross_site_request",
                message: "requests from web pages (with an Origin header) are refused")
        }
        if let site, !head.withBytes({ ASCIICaseless.equal($0, site.value, "none") }) {
            return RequestRefusal(status: .forbidden, code: "cross_site_request",
                message: "requests from web pages (Sec-Fetch-Site: \(head.string(site).prefix(20))) are refused")
        }
        // (The parser refused lengths that are not digits or disagree.)
        if let length = head.contentLength, Int64(length) > maxBodySize {
            return RequestRefusal(status: .payloadTooLarge, code: "body_too_large",
                message: "the request body exceeds the agent's limit of \(maxBodySize) bytes")
        }
        if head.method == .CONNECT || !head.withBytes({ $0[head.target.lowerBound] == UInt8(ascii: "/") }) {
            return RequestRefusal(status: .badRequest, code: "bad_request", message: "only origin-form request targets are served")
        }
        return nil
    }

    /// Exact match, case-insensitive: `127.0.0.1:<port>`, `localhost:<port>`,
    /// `[::1]:<port>`; on the Unix socket also `localhost` without a port.
    static func isAllowed(host: UnsafeRawBufferPointer, listener: ListenerKind) -> Bool {
        guard host.allSatisfy({ $0 < 0x80 }) else {
            return isAllowedSlowPath(host: String(decoding: host, as: UTF8.self).lowercased(), listener: listener)
        }
        switch listener {
        case .tcp(let port):
            return matchesLoopback(host, port: port)
        case .unixSocket(let port):
            if ASCIICaseless.equal(host, ASCIICaseless.bytes("localhost")) { return true }
            if let port { return matchesLoopback(host, port: port) }
            return false
        }
    }

    /// An ASCII `host` (any case) is `<loopback name>:<port>`, the port in its decimal form.
    private static func matchesLoopback(_ bytes: UnsafeRawBufferPointer, port: Int) -> Bool {
        guard let colon = bytes.lastIndex(of: UInt8(ascii: ":")), port >= 0 else { return false }
        // The digits after the colon are exactly the decimal form of `port`.
        var end = bytes.count
        var value = port
        repeat {
            guard end > colon + 1, bytes[end - 1] == UInt8(ascii: "0") + UInt8(value % 10) else { return false }
            end -= 1
            value /= 10
        } while value > 0
        guard end == colon + 1 else { return false }
        let name = UnsafeRawBufferPointer(rebasing: bytes[..<colon])
        return ASCIICaseless.equal(name, ASCIICaseless.bytes("127.0.0.1"))
            || ASCIICaseless.equal(name, ASCIICaseless.bytes("localhost"))
            || ASCIICaseless.equal(name, ASCIICaseless.bytes("[::1]"))
    }

    /// The general form of `isAllowed` on a lower-cased host with non-ASCII characters.
    private static func isAllowedSlowPath(host h: String, listener: ListenerKind) -> Bool {
        func matches(_ h: String, port: Int) -> Bool {
            guard let colon = h.lastIndex(of: ":"), h[h.index(after: colon)...] == String(port) else { return false }
            switch h[..<colon] {
            case "127.0.0.1", "localhost", "[::1]": return true
            default: return false
            }
        }
        switch listener {
        case .tcp(let port):
            return matches(h, port: port)
        case .unixSocket(let port):
            if h == "localhost" { return true }
            if let port { return matches(h, port: port) }
            return false
        }
    }

    private static func suggestedHost(_ listener: ListenerKind) -> String {
        switch listener {
        case .tcp(let port): return "127.0.0.1:\(port)"
        case .unixSocket: return "localhost"
        }
    }
}
