import NIOCore

/// An upstream response head as `UpstreamResponseParser` found it: the status, how the body
/// is framed, and each field as byte ranges into the head's own bytes (`HTTP1Head`). The
/// reason phrase is checked like a field value.
struct UpstreamResponseHead: HTTP1Head {
    /// How the response body is delimited (RFC 9112 §6.3).
    enum Framing: Equatable {
        /// No body: a response to HEAD, 204 or 304.
        case none
        case length(Int)
        case chunked
        /// The body ends when the server closes the connection.
        case untilClose
    }

    /// 0 or 1 (HTTP/1.x).
    var minorVersion: Int
    var status: Int
    var reason: Range<Int>
    var fields: [HTTP1Field]
    var framing: Framing
    /// The `Content-Length` value, also for a response to HEAD or a 304, whose bodies are
    /// empty whatever it says.
    var contentLength: Int?
    /// The connection may carry another request after this response (RFC 9112 §9.3).
    var keepAlive: Bool
    /// The head from the status line to the empty line; the ranges index into it.
    var bytes: ByteBuffer

    /// A 401 whose `WWW-Authenticate` says `invalid_token` (RFC 6750 §3.1): the gateway
    /// refused the token itself, so a refresh may help.
    var refusesToken: Bool {
        status == 401 && values("www-authenticate").contains { $0.contains("invalid_token") }
    }
}
