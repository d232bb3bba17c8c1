import NIOCore
import NIOHTTP1

/// A request head as `ClientRequestParser` found it: method, version, the request target and
/// each field as byte ranges into the head's own bytes (`HTTP1Head`), and how its body is
/// framed. The proxy screens and forwards it from the bytes; `uri` and `fieldStrings` make
/// strings for the places that want them (the token API, tests). Immutable: the ranges are only
/// meaningful with the bytes they were found in. `bytes` is a slice of the connection's
/// receive buffer, kept (like a response head's) until the exchange ends.
struct ClientRequestHead: HTTP1Head {
    let method: HTTPMethod
    /// 0 or 1 (HTTP/1.x).
    let minorVersion: Int
    /// The request target: visible ASCII, as the parser checked.
    let target: Range<Int>
    let fields: [HTTP1Field]
    /// How the body is framed (`nil`: no body). `Content-Length` values all agree and
    /// `Transfer-Encoding` is exactly `chunked`, never with a length (the parser refused
    /// anything else).
    let framing: HTTP1Reader.BodyFraming?
    let bytes: ByteBuffer

    var version: HTTPVersion { HTTPVersion(major: 1, minor: minorVersion) }

    /// The request target as a string.
    var uri: String { string(target) }

    /// Whether the request target starts with `prefix`.
    func targetHasPrefix(_ prefix: StaticString) -> Bool {
        target.count >= prefix.utf8CodeUnitCount && withBytes { HTTP1Reader.matches($0, at: target.lowerBound, prefix) }
    }

    /// Whether a body follows the head: chunked, or a length other than 0.
    var hasBody: Bool {
        switch framing {
        case .chunked?: return true
        case .length(let n)?: return n > 0
        case .untilClose?, nil: return false
        }
    }

    /// The body's length when `Content-Length` frames it.
    var contentLength: Int? {
        if case .length(let n)? = framing { return n }
        return nil
    }

    /// Whether the client keeps the connection open after this request (RFC 9112 §9.3):
    /// HTTP/1.1 unless `Connection` says `close`; HTTP/1.0 only when it says `keep-alive`
    /// (and not `close` as well).
    var isKeepAlive: Bool {
        if listContains("close", in: "connection") { return false }
        return minorVersion >= 1 || listContains("keep-alive", in: "connection")
    }

    /// The fields in order, a string per name and value (the token API's request; the proxy
    /// works on the ranges).
    var fieldStrings: [(name: String, value: String)] {
        fields.map { (name: string($0.name), value: string($0.value)) }
    }
}
