import NIOCore
import NIOHTTP1

/// Reads HTTP/1.1 requests off a client connection of the agent (RFC 9112): each head into
/// a `ClientRequestHead` (byte ranges into the received bytes), the body as slices of the received buffers, chunked bodies
/// de-chunked. Like `UpstreamResponseParser` a pure state machine, fed bytes and pulled for
/// events, run inside `ProxyServerHandler` (issue 5: NIO's request decoder, a pipeline stage
/// of its own, was an eighth of the proxy's user time).
///
/// This is where the agent decides where one request ends and the next begins, so it is
/// strict wherever leniency would let the agent and a server read one stream differently
/// (request smuggling, SECURITY S9): `Transfer-Encoding` must be exactly `chunked`, never
/// comes with `Content-Length` and never in HTTP/1.0; every `Content-Length` is digits and
/// agrees with the others; single spaces in the request line; no folded or malformed field
/// lines, no control characters, no bytes outside visible ASCII in the request target.
/// Bodies are forwarded re-framed by the agent itself, so an upstream never sees the
/// client's framing.
struct ClientRequestParser {
    enum Event {
        case head(ClientRequestHead)
        case body(ByteBuffer)
        case end
    }

    private var reader: HTTP1Reader
    /// A head has been read and its body (possibly empty) not yet to its end.
    private var inRequest = false

    /// `maxHeadSize` bounds the request line and fields together (431 beyond it).
    init(maxHeadSize: Int) {
        reader = HTTP1Reader(maxHeadSize: maxHeadSize)
    }

    /// Bytes received and not yet part of any event (the start of a pipelined request).
    var hasUnreadBytes: Bool { reader.hasUnreadBytes }

    var unreadCount: Int { reader.unreadCount }

    /// Those bytes: between requests (no head read whose body has not ended), the stream
    /// from the next request on — what the fast lane hands to the channel path.
    var unreadBytes: ByteBuffer? { reader.unreadBytes }

    mutating func append(_ bytes: ByteBuffer) {
        reader.append(bytes)
    }

    /// The next event the bytes so far make complete, or `nil` until more arrive.
    mutating func next() throws(HTTP1ParseError) -> Event? {
        if inRequest {
            switch try reader.nextBody() {
            case nil: return nil
            case .body(let slice)?: return .body(slice)
            case .end?:
                inRequest = false
                return .end
            }
        }
        guard let bytes = try reader.takeHead(what: "request head") else { return nil }
        let head = try Self.parse(bytes)
        reader.beginBody(head.framing)
        inRequest = true
        return .head(head)
    }

    /// The request line and field lines of a complete head, and how its body is framed.
    static func parse(_ bytes: ByteBuffer) throws(HTTP1ParseError) -> ClientRequestHead {
        try bytes.withUnsafeReadableBytes { raw throws(HTTP1ParseError) in
            var lines = HTTP1Reader.Lines(raw)
            guard let line = lines.line() else { throw HTTP1ParseError("no request line") }
            // method SP request-target SP HTTP-version (RFC 9112 §3), each separated by one space.
            var i = line.lowerBound
            while i < line.upperBound, HTTP1Reader.isTokenByte(raw[i]) { i += 1 }
            guard i > line.lowerBound, i < line.upperBound, raw[i] == 0x20 else { throw HTTP1ParseError("bad request method") }
            let method = line.lowerBound..<i
            i += 1
            let targetStart = i
            while i < line.upperBound, raw[i] > 0x20, raw[i] < 0x7F { i += 1 }
            guard i > targetStart, i < line.upperBound, raw[i] == 0x20 else { throw HTTP1ParseError("bad request target") }
            let target = targetStart..<i
            let minor = try version(raw, i + 1..<line.upperBound)
            let fields = try lines.fields()
            let framing = try HTTP1Reader.framing(raw, fields)
            if framing == .chunked, minor == 0 {
                // RFC 9112 §6.1: the framing of such a message is faulty.
                throw HTTP1ParseError("Transfer-Encoding in an HTTP/1.0 request")
            }
            let methodName = String(decoding: UnsafeRawBufferPointer(rebasing: raw[method]), as: UTF8.self)
            return ClientRequestHead(method: HTTPMethod(rawValue: methodName), minorVersion: minor, target: target,
                                     fields: fields, framing: framing, bytes: bytes)
        }
    }

    /// `HTTP/1.1` or `HTTP/1.0`: the minor version. Another version is `unsupportedVersion`
    /// (505); anything else is malformed.
    private static func version(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) throws(HTTP1ParseError) -> Int {
        let v = range.lowerBound
        func isDigit(_ b: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
        guard range.count == 8, HTTP1Reader.matches(raw, at: v, "HTTP/"),
              isDigit(raw[v + 5]), raw[v + 6] == UInt8(ascii: "."), isDigit(raw[v + 7])
        else { throw HTTP1ParseError("bad HTTP version") }
        guard raw[v + 5] == UInt8(ascii: "1"), raw[v + 7] <= UInt8(ascii: "1") else {
            throw HTTP1ParseError("HTTP versions other than 1.0 and 1.1 are not served", kind: .unsupportedVersion)
        }
        return Int(raw[v + 7] - UInt8(ascii: "0"))
    }
}
