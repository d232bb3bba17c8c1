import NIOCore
#if canImport(Glibc)
import Glibc
#endif

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

    struct ParseError: Error, Equatable, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    private enum State {
        /// No request outstanding: bytes are unexpected.
        case idle
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(seen: Int)
        case untilClose
        /// The body is complete: `.end` is the next event.
        case ending
        case done
    }

    /// The longest head (or chunked trailer section) accepted.
    let maxHeadSize: Int
    private var state: State = .idle
    private var buffer: ByteBuffer?
    private var requestIsHead = false
    /// How much of `buffer` has been searched for the end of the head.
    private var scanned = 0

    /// Longest chunk-size line (with extensions) accepted.
    static let maxChunkLine = 4096

    init(maxHeadSize: Int = 64 * 1024) {
        self.maxHeadSize = maxHeadSize
    }

    /// A request has been sent: its response comes next. A response to HEAD has no body
    /// whatever its fields say (RFC 9110 §9.3.2).
    mutating func expectResponse(toHEAD: Bool) {
        state = .head
        requestIsHead = toHEAD
        scanned = 0
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
    var hasUnreadBytes: Bool { (buffer?.readableBytes ?? 0) > 0 }

    mutating func append(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        if !isIdle { receivedResponseBytes = true }
        if buffer == nil || buffer!.readableBytes == 0 {
            buffer = bytes
        } else {
            var bytes = bytes
            buffer!.writeBuffer(&bytes)
        }
    }

    /// The server closed the connection: ends a body that runs until then. Any other
    /// incomplete response stays incomplete (the caller treats it as a failure).
    mutating func inputClosed() -> Event? {
        switch state {
        case .untilClose, .ending:
            state = .done
            return .end
        default:
            return nil
        }
    }

    /// The next event the bytes so far make complete, or `nil` until more arrive.
    mutating func next() throws(ParseError) -> Event? {
        while true {
            switch state {
            case .idle, .done:
                return nil
            case .ending:
                state = .done
                return .end
            case .head:
                guard let head = try parseHead() else { return nil }
                if let head { return .head(head) }
                // A 1xx informational response was skipped: parse the next head.
            case .fixed(let remaining):
                guard let slice = take(upTo: remaining) else { return nil }
                state = slice.readableBytes == remaining ? .ending : .fixed(remaining: remaining - slice.readableBytes)
                return .body(slice)
            case .chunkData(let remaining):
                guard let slice = take(upTo: remaining) else { return nil }
                state = slice.readableBytes == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - slice.readableBytes)
                return .body(slice)
            case .untilClose:
                guard let slice = take(upTo: Int.max) else { return nil }
                return .body(slice)
            case .chunkSize:
                guard let line = try takeLine(limit: Self.maxChunkLine, what: "chunk size line") else { return nil }
                let size = try Self.chunkSize(line)
                state = size == 0 ? .trailers(seen: 0) : .chunkData(remaining: size)
            case .chunkDataEnd:
                guard let line = try takeLine(limit: 2, what: "chunk end") else { return nil }
                guard line.readableBytes == 0 else { throw ParseError("chunk data longer than its size") }
                state = .chunkSize
            case .trailers(let seen):
                // Trailer fields are dropped (the proxy forwards none, RFC 9110 §6.5.1).
                guard let line = try takeLine(limit: maxHeadSize - seen, what: "trailer section") else { return nil }
                if line.readableBytes == 0 {
                    state = .ending
                } else {
                    // Each a field line, as in the head (RFC 9112 §7.1.2).
                    _ = try line.withUnsafeReadableBytes { raw throws(ParseError) in try Self.fieldLine(raw, 0..<raw.count) }
                    state = .trailers(seen: seen + line.readableBytes + 2)
                }
            }
        }
    }

    // MARK: Bytes

    /// Up to `limit` bytes of the buffer, if any.
    private mutating func take(upTo limit: Int) -> ByteBuffer? {
        guard let available = buffer?.readableBytes, available > 0 else { return nil }
        let slice = buffer!.readSlice(length: min(limit, available))!
        if buffer!.readableBytes == 0 { buffer = nil }  // lets NIO reuse its receive buffer
        return slice
    }

    /// The next line of the chunked framing without its CRLF, or `nil` when it is not
    /// complete yet. Only CRLF ends it (RFC 9112 §7.1; the bare-LF leniency of §2.2 is for
    /// the head alone), and a CR anywhere else is refused.
    private mutating func takeLine(limit: Int, what: StaticString) throws(ParseError) -> ByteBuffer? {
        guard let available = buffer?.readableBytes, available > 0 else { return nil }
        let lf = buffer!.withUnsafeReadableBytes { raw in Self.indexOfLF(raw, from: 0) }
        guard let lf else {
            if available > limit { throw ParseError("\(what) too long") }
            return nil
        }
        if lf > limit { throw ParseError("\(what) too long") }
        var line = buffer!.readSlice(length: lf + 1)!
        if buffer!.readableBytes == 0 { buffer = nil }
        line.moveWriterIndex(to: line.writerIndex - 1)
        guard line.readableBytes > 0, line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == 0x0D else {
            throw ParseError("bare LF in the chunked framing")
        }
        line.moveWriterIndex(to: line.writerIndex - 1)
        let cr = line.withUnsafeReadableBytes { $0.contains(0x0D) }
        if cr { throw ParseError("CR inside a line") }
        return line
    }

    /// The index of the first LF at or after `from` (memchr: the generic search was a
    /// visible share of the proxy's time).
    @inline(__always)
    static func indexOfLF(_ raw: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard from < raw.count, let base = raw.baseAddress,
              let hit = memchr(base + from, 0x0A, raw.count - from) else { return nil }
        return UnsafeRawPointer(hit) - base
    }

    /// `chunk-size [ BWS ";" chunk-ext ]` (RFC 9112 §7.1.1); at most 15 hex digits.
    static func chunkSize(_ line: ByteBuffer) throws(ParseError) -> Int {
        try line.withUnsafeReadableBytes { raw throws(ParseError) in
            var size = 0, i = 0
            while i < raw.count, let digit = hexValue(raw[i]) {
                guard i < 15 else { throw ParseError("chunk size too large") }
                size = size << 4 | digit
                i += 1
            }
            guard i > 0 else { throw ParseError("chunk size missing") }
            // *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] )
            func skipBWS() { while i < raw.count, raw[i] == 0x20 || raw[i] == 0x09 { i += 1 } }
            func token() -> Bool {
                let start = i
                while i < raw.count, isTokenByte(raw[i]) { i += 1 }
                return i > start
            }
            func quoted() -> Bool {
                guard i < raw.count, raw[i] == 0x22 else { return false }
                i += 1
                while i < raw.count {
                    let b = raw[i]
                    if b == 0x22 { i += 1; return true }
                    if b == 0x5C { i += 1; guard i < raw.count else { return false } }
                    else if !isValueByte(b) { return false }
                    i += 1
                }
                return false
            }
            while i < raw.count {
                skipBWS()  // (only before a ";": whitespace at the end of the line is refused)
                guard i < raw.count, raw[i] == UInt8(ascii: ";") else { throw ParseError("bad chunk size") }
                i += 1
                skipBWS()
                guard token() else { throw ParseError("bad chunk extension") }
                skipBWS()
                if i < raw.count, raw[i] == UInt8(ascii: "=") {
                    i += 1
                    skipBWS()
                    guard token() || quoted() else { throw ParseError("bad chunk extension") }
                }
            }
            return size
        }
    }

    @inline(__always)
    static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(b - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    // MARK: Head

    /// A complete head (`.some(head)`), a skipped 1xx response (`.some(nil)`), or `nil` when
    /// more bytes are needed.
    private mutating func parseHead() throws(ParseError) -> UpstreamResponseHead?? {
        if scanned == 0 {
            // Empty lines before a status line (a stray CRLF after the previous response) are
            // skipped, as llhttp did (RFC 9112 §2.2).
            while let first = buffer?.readableBytesView.first, first == 0x0D || first == 0x0A {
                buffer!.moveReaderIndex(forwardBy: 1)
            }
            if buffer?.readableBytes == 0 { buffer = nil }
        }
        guard let available = buffer?.readableBytes, available > 0 else { return nil }
        let end: Int? = buffer!.withUnsafeReadableBytes { raw in
            var from = max(0, scanned)
            while let i = Self.indexOfLF(raw, from: from) {
                if i + 1 < raw.count, raw[i + 1] == 0x0A { return i + 2 }
                if i + 2 < raw.count, raw[i + 1] == 0x0D, raw[i + 2] == 0x0A { return i + 3 }
                from = i + 1
            }
            return nil
        }
        guard let end else {
            if available > maxHeadSize { throw ParseError("response head too large") }
            scanned = max(0, available - 2)
            return nil
        }
        if end > maxHeadSize { throw ParseError("response head too large") }
        scanned = 0
        let bytes = buffer!.readSlice(length: end)!
        if buffer!.readableBytes == 0 { buffer = nil }
        var head = try Self.parse(bytes)
        if (100...199).contains(head.status) {
            // 100 Continue, 103 Early Hints: dropped; the final response follows. A 101 would
            // switch protocols, and the proxy never asks for that (`Upgrade` is not forwarded).
            if head.status == 101 { throw ParseError("unexpected 101 Switching Protocols") }
            // HTTP/1.0 has no 1xx responses (RFC 9110 §15.2): not skipped as one.
            if head.minorVersion == 0 { throw ParseError("1xx response in HTTP/1.0") }
            return .some(nil)
        }
        head.framing = try framing(of: head)
        if head.framing == .untilClose { head.keepAlive = false }
        switch head.framing {
        case .none, .length(0): state = .ending
        case .length(let n): state = .fixed(remaining: n)
        case .chunked: state = .chunkSize
        case .untilClose: state = .untilClose
        }
        return .some(head)
    }

    /// RFC 9112 §6.3, strictly: `Transfer-Encoding` and `Content-Length` together, a transfer
    /// coding other than `chunked`, or lengths that disagree are errors.
    private func framing(of head: UpstreamResponseHead) throws(ParseError) -> UpstreamResponseHead.Framing {
        let te = head.fields.filter { head.name(of: $0, is: "transfer-encoding") }
        if !te.isEmpty && head.contentLength != nil { throw ParseError("Transfer-Encoding with Content-Length") }
        if requestIsHead || head.status == 204 || head.status == 304 { return .none }
        if !te.isEmpty {
            let codings = head.withBytes { raw in te.flatMap { UpstreamResponseHead.items(raw, $0.value) } }
            guard codings.count == 1, head.withBytes({ ASCIICaseless.equal($0, codings[0], "chunked") })
            else { throw ParseError("transfer coding other than chunked") }
            return .chunked
        }
        if let length = head.contentLength { return .length(length) }
        return .untilClose
    }

    /// The status line and field lines of a complete head.
    static func parse(_ bytes: ByteBuffer) throws(ParseError) -> UpstreamResponseHead {
        try bytes.withUnsafeReadableBytes { raw throws(ParseError) -> UpstreamResponseHead in
            // One line at a time, each without its line ending (the head ends with an empty line).
            var next = 0
            func line() -> Range<Int>? {
                guard next < raw.count, let lf = Self.indexOfLF(raw, from: next) else { return nil }
                var end = lf
                if end > next, raw[end - 1] == 0x0D { end -= 1 }
                defer { next = lf + 1 }
                return next..<end
            }
            guard let statusLine = line() else { throw ParseError("no status line") }
            // HTTP/1.x SP 3DIGIT [ SP reason ]
            let s = statusLine
            guard s.count >= 12,
                  raw[s.lowerBound..<s.lowerBound + 7].elementsEqual("HTTP/1.".utf8),
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
                try checkValueBytes(raw, reason)
            }
            var fields: [UpstreamResponseHead.Field] = []
            fields.reserveCapacity(16)
            while let line = line(), !line.isEmpty { fields.append(try fieldLine(raw, line)) }
            var head = UpstreamResponseHead(
                minorVersion: Int(raw[s.lowerBound + 7] - UInt8(ascii: "0")), status: status, reason: reason,
                fields: fields, framing: .untilClose, contentLength: nil, keepAlive: false, bytes: bytes)
            head.contentLength = try contentLength(head, raw)
            head.keepAlive = head.minorVersion == 1
                ? !head.listContains("close", in: "connection")
                : head.listContains("keep-alive", in: "connection")
            return head
        }
    }

    /// `field-name ":" OWS field-value OWS` (RFC 9112 §5): the name a token, no whitespace
    /// before the colon, none at the start of the line (obs-fold), the value free of control
    /// characters; the value's range excludes the surrounding whitespace.
    static func fieldLine(_ raw: UnsafeRawBufferPointer, _ line: Range<Int>) throws(ParseError) -> UpstreamResponseHead.Field {
        guard raw[line.lowerBound] != 0x20, raw[line.lowerBound] != 0x09 else { throw ParseError("folded field line") }
        var colon = line.lowerBound
        while colon < line.upperBound, raw[colon] != UInt8(ascii: ":") {
            guard isTokenByte(raw[colon]) else { throw ParseError("bad field name") }
            colon += 1
        }
        guard colon < line.upperBound, colon > line.lowerBound else { throw ParseError("bad field line") }
        var lo = colon + 1, hi = line.upperBound
        while lo < hi, raw[lo] == 0x20 || raw[lo] == 0x09 { lo += 1 }
        while hi > lo, raw[hi - 1] == 0x20 || raw[hi - 1] == 0x09 { hi -= 1 }
        try checkValueBytes(raw, lo..<hi)
        return .init(name: line.lowerBound..<colon, value: lo..<hi)
    }

    /// Every `Content-Length` value (each may be a list, RFC 9110 §8.6) must be the same
    /// decimal number.
    private static func contentLength(_ head: UpstreamResponseHead, _ raw: UnsafeRawBufferPointer) throws(ParseError) -> Int? {
        var length: Int?
        for field in head.fields where head.name(of: field, is: "content-length") {
            let items = UpstreamResponseHead.items(raw, field.value)
            guard !items.isEmpty else { throw ParseError("empty Content-Length") }
            for item in items {
                guard item.count <= 18, raw[item].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
                else { throw ParseError("bad Content-Length") }
                let value = raw[item].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
                if let length, length != value { throw ParseError("conflicting Content-Length") }
                length = value
            }
        }
        return length
    }

    /// Field values and the reason phrase: HTAB, SP, visible ASCII, obs-text.
    @inline(__always)
    private static func checkValueBytes(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) throws(ParseError) {
        for i in range where !isValueByte(raw[i]) { throw ParseError("control character in a field value") }
    }

    /// A byte a field value (or reason phrase, or quoted string) may hold: anything but the
    /// control characters other than HTAB.
    @inline(__always)
    static func isValueByte(_ b: UInt8) -> Bool { b >= 0x20 && b != 0x7F || b == 0x09 }

    /// `tchar` (RFC 9110 §5.6.2).
    @inline(__always)
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
