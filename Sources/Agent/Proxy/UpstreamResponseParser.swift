import NIOCore

/// Reads HTTP/1.1 responses off an upstream connection (RFC 9112): the head into an
/// `UpstreamResponseHead`, the body as slices of the received buffers (no copy), chunked
/// bodies de-chunked. A pure state machine, fed bytes and pulled for events, so the proxy
/// decides between events what happens next (issue 5: NIO's general decoder, its
/// `HTTPHeaders` and the encoder behind it were most of the proxy's user time).
///
/// Strict where leniency would let one response be read as two (response splitting,
/// desynchronised keep-alive): a `Content-Length` must be digits and agree with every other
/// one, `Transfer-Encoding` must be exactly `chunked` and never comes with `Content-Length`,
/// a field line may not be folded, control characters are refused.
struct UpstreamResponseParser {
    enum Event {
        case head(UpstreamResponseHead)
        case body(ByteBuffer)
        case end
    }

    typealias ParseError = HTTP1ParseError

    private enum State {
        /// No request outstanding: bytes are unexpected.
        case idle
        case head
        case body
        case done
    }

    private var reader: HTTP1Reader
    private var state: State = .idle
    private var requestIsHead = false

    init(maxHeadSize: Int = 64 * 1024) {
        reader = HTTP1Reader(maxHeadSize: maxHeadSize)
    }

    /// A request has been sent: its response comes next. A response to HEAD has no body
    /// whatever its fields say (RFC 9110 §9.3.2).
    mutating func expectResponse(toHEAD: Bool) {
        state = .head
        requestIsHead = toHEAD
        receivedResponseBytes = false
    }

    /// Some of the outstanding response has arrived (a 1xx counts): if the connection ends
    /// now, the request has reached the server and must not be sent again.
    private(set) var receivedResponseBytes = false

    /// Whether no response is outstanding (none expected, or the last one is complete).
    var isIdle: Bool {
        switch state {
        case .idle, .done: return true
        default: return false
        }
    }

    /// Bytes received and not yet part of any event: after a complete response, the
    /// connection cannot be reused.
    var hasUnreadBytes: Bool { reader.hasUnreadBytes }

    mutating func append(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        if !isIdle { receivedResponseBytes = true }
        reader.append(bytes)
    }

    /// The server closed the connection: ends a body that runs until then. Any other
    /// incomplete response stays incomplete (the caller treats it as a failure).
    mutating func inputClosed() -> Event? {
        guard case .body = state, reader.inputClosed() else { return nil }
        state = .done
        return .end
    }

    /// The next event the bytes so far make complete, or `nil` until more arrive.
    mutating func next() throws(ParseError) -> Event? {
        switch state {
        case .idle, .done:
            return nil
        case .head:
            // A 1xx informational response is skipped: the final response follows.
            while let bytes = try reader.takeHead(what: "response head") {
                guard let head = try parseHead(bytes) else { continue }
                state = .body
                return .head(head)
            }
            return nil
        case .body:
            switch try reader.nextBody() {
            case nil: return nil
            case .body(let slice)?: return .body(slice)
            case .end?:
                state = .done
                return .end
            }
        }
    }

    /// A final response head, with the reader set up for its body; `nil` for a 1xx.
    private mutating func parseHead(_ bytes: ByteBuffer) throws(ParseError) -> UpstreamResponseHead? {
        var head = try Self.parse(bytes)
        if (100...199).contains(head.status) {
            // 100 Continue, 103 Early Hints: dropped. A 101 would switch protocols, and the
            // proxy never asks for that (`Upgrade` is not forwarded).
            if head.status == 101 { throw ParseError("unexpected 101 Switching Protocols") }
            // HTTP/1.0 has no 1xx responses (RFC 9110 §15.2): not skipped as one.
            if head.minorVersion == 0 { throw ParseError("1xx response in HTTP/1.0") }
            return nil
        }
        // HEAD, 204 and 304 have no body whatever the fields say: only a transfer coding there
        // that could not be read is not an error.
        let bodiless = requestIsHead || head.status == 204 || head.status == 304
        var framing: HTTP1Reader.BodyFraming?
        var failure: ParseError?
        head.withBytes { raw in
            do throws(ParseError) { framing = try HTTP1Reader.framing(raw, head.fields) } catch { failure = error }
        }
        if let failure, !(bodiless && failure.kind == .unsupportedTransferCoding) { throw failure }
        if case .length(let n)? = framing { head.contentLength = n }
        if bodiless {
            head.framing = .none
            reader.beginBody(nil)
        } else {
            switch framing {
            case nil: head.framing = .untilClose
            case .length(let n)?: head.framing = .length(n)
            case .chunked?: head.framing = .chunked
            case .untilClose?: head.framing = .untilClose
            }
            reader.beginBody(framing ?? .untilClose)
        }
        if head.framing == .untilClose { head.keepAlive = false }
        return head
    }

    /// The status line and field lines of a complete head.
    static func parse(_ bytes: ByteBuffer) throws(ParseError) -> UpstreamResponseHead {
        try bytes.withUnsafeReadableBytes { raw throws(ParseError) -> UpstreamResponseHead in
            var lines = HTTP1Reader.Lines(raw)
            guard let statusLine = lines.line() else { throw ParseError("no status line") }
            // HTTP/1.x SP 3DIGIT [ SP reason ]
            let s = statusLine
            guard s.count >= 12,
                  HTTP1Reader.matches(raw, at: s.lowerBound, "HTTP/1."),
                  raw[s.lowerBound + 7] == UInt8(ascii: "0") || raw[s.lowerBound + 7] == UInt8(ascii: "1"),
                  raw[s.lowerBound + 8] == 0x20
            else { throw ParseError("bad status line") }
            var status = 0
            for i in s.lowerBound + 9..<s.lowerBound + 12 {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(raw[i]) else { throw ParseError("bad status code") }
                status = status * 10 + Int(raw[i] - UInt8(ascii: "0"))
            }
            guard status >= 100 else { throw ParseError("bad status code") }
            var reason = s.upperBound..<s.upperBound
            if s.count > 12 {
                guard raw[s.lowerBound + 12] == 0x20 else { throw ParseError("bad status line") }
                reason = s.lowerBound + 13..<s.upperBound
                try HTTP1Reader.checkValueBytes(raw, reason)
            }
            var head = UpstreamResponseHead(
                minorVersion: Int(raw[s.lowerBound + 7] - UInt8(ascii: "0")), status: status, reason: reason,
                fields: try lines.fields(), framing: .untilClose, contentLength: nil, keepAlive: false, bytes: bytes)
            head.keepAlive = head.minorVersion == 1
                ? !head.listContains("close", in: "connection")
                : head.listContains("keep-alive", in: "connection")
            return head
        }
    }
}
