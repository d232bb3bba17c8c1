import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Why received bytes are not a valid HTTP/1.1 message. `kind` decides how the agent answers
/// a client (400, 431, 501, 505); a bad upstream response is always 502.
struct HTTP1ParseError: Error, Equatable, CustomStringConvertible {
    enum Kind: Equatable {
        case malformed
        case headTooLarge
        case unsupportedTransferCoding
        case unsupportedVersion
    }

    let kind: Kind
    let description: String

    init(_ description: String, kind: Kind = .malformed) {
        self.kind = kind
        self.description = description
    }
}

/// The received bytes of one direction of an HTTP/1.1 connection, and the framing of the
/// message body being read (RFC 9112 §6–7): the part `UpstreamResponseParser` and
/// `ClientRequestParser` share. Heads are cut out whole for the parsers; bodies come out as
/// slices of the received buffers (no copy), chunked bodies de-chunked.
///
/// Strict where leniency would let one message be read as two (smuggling, desynchronised
/// keep-alive): only CRLF ends a line of the chunked framing, a chunk size has at most 15
/// hex digits, chunk extensions follow their grammar, trailer lines are field lines.
struct HTTP1Reader {
    enum BodyFraming: Equatable {
        case length(Int)
        case chunked
        /// Until the connection closes (responses only).
        case untilClose
    }

    enum BodyEvent {
        case body(ByteBuffer)
        case end
    }

    private enum Body {
        case none
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(seen: Int)
        case untilClose
        /// The body is complete: `.end` is the next event.
        case ending
    }

    /// The longest head (or chunked trailer section) accepted.
    let maxHeadSize: Int
    private var buffer: ByteBuffer?
    private var body: Body = .none
    /// How much of `buffer` has been searched for the end of the head.
    private var scanned = 0

    /// Longest chunk-size line (with extensions) accepted.
    static let maxChunkLine = 4096

    init(maxHeadSize: Int) {
        self.maxHeadSize = maxHeadSize
    }

    /// Bytes received and not yet part of any head or body.
    var hasUnreadBytes: Bool { unreadCount > 0 }

    var unreadCount: Int { buffer?.readableBytes ?? 0 }

    /// The bytes received and not yet part of any head or body.
    var unreadBytes: ByteBuffer? { unreadCount > 0 ? buffer : nil }

    mutating func append(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }
        if buffer == nil || buffer!.readableBytes == 0 {
            buffer = bytes
        } else {
            var bytes = bytes
            buffer!.writeBuffer(&bytes)
        }
    }

    // MARK: Heads

    /// The next complete head, through the empty line that ends it, or `nil` until it has
    /// arrived. Empty lines before it are skipped (RFC 9112 §2.2); a line may end in a bare
    /// LF (ibid.), which the parsers allow for. Longer than `maxHeadSize`: `headTooLarge`.
    mutating func takeHead(what: StaticString) throws(HTTP1ParseError) -> ByteBuffer? {
        if scanned == 0 {
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
            if available > maxHeadSize { throw HTTP1ParseError("\(what) too large", kind: .headTooLarge) }
            scanned = max(0, available - 2)
            return nil
        }
        if end > maxHeadSize { throw HTTP1ParseError("\(what) too large", kind: .headTooLarge) }
        scanned = 0
        let bytes = buffer!.readSlice(length: end)!
        if buffer!.readableBytes == 0 { buffer = nil }
        return bytes
    }

    // MARK: Bodies

    /// The head just taken announced this body (`nil`: none).
    mutating func beginBody(_ framing: BodyFraming?) {
        switch framing {
        case nil, .length(0)?: body = .ending
        case .length(let n)?: body = .fixed(remaining: n)
        case .chunked?: body = .chunkSize
        case .untilClose?: body = .untilClose
        }
    }

    /// The connection closed: `true` when that ends the body being read (one that runs until
    /// the close, or one already complete). Any other body stays incomplete.
    mutating func inputClosed() -> Bool {
        switch body {
        case .untilClose, .ending:
            body = .none
            return true
        default:
            return false
        }
    }

    /// The next piece of the body the bytes so far make complete, `.end` once after the last,
    /// or `nil` until more arrive (and when no body is being read).
    mutating func nextBody() throws(HTTP1ParseError) -> BodyEvent? {
        while true {
            switch body {
            case .none:
                return nil
            case .ending:
                body = .none
                return .end
            case .fixed(let remaining):
                guard let slice = take(upTo: remaining) else { return nil }
                body = slice.readableBytes == remaining ? .ending : .fixed(remaining: remaining - slice.readableBytes)
                return .body(slice)
            case .chunkData(let remaining):
                guard let slice = take(upTo: remaining) else { return nil }
                body = slice.readableBytes == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - slice.readableBytes)
                return .body(slice)
            case .untilClose:
                guard let slice = take(upTo: Int.max) else { return nil }
                return .body(slice)
            case .chunkSize:
                guard let line = try takeLine(limit: Self.maxChunkLine, what: "chunk size line") else { return nil }
                let size = try Self.chunkSize(line)
                body = size == 0 ? .trailers(seen: 0) : .chunkData(remaining: size)
            case .chunkDataEnd:
                guard let line = try takeLine(limit: 2, what: "chunk end") else { return nil }
                guard line.readableBytes == 0 else { throw HTTP1ParseError("chunk data longer than its size") }
                body = .chunkSize
            case .trailers(let seen):
                // Trailer fields are dropped (the proxy forwards none, RFC 9110 §6.5.1).
                guard let line = try takeLine(limit: maxHeadSize - seen, what: "trailer section") else { return nil }
                if line.readableBytes == 0 {
                    body = .ending
                } else {
                    // Each a field line, as in the head (RFC 9112 §7.1.2).
                    _ = try line.withUnsafeReadableBytes { raw throws(HTTP1ParseError) in try Self.fieldLine(raw, 0..<raw.count) }
                    body = .trailers(seen: seen + line.readableBytes + 2)
                }
            }
        }
    }

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
    private mutating func takeLine(limit: Int, what: StaticString) throws(HTTP1ParseError) -> ByteBuffer? {
        guard let available = buffer?.readableBytes, available > 0 else { return nil }
        let lf = buffer!.withUnsafeReadableBytes { raw in Self.indexOfLF(raw, from: 0) }
        guard let lf else {
            if available > limit { throw HTTP1ParseError("\(what) too long") }
            return nil
        }
        if lf > limit { throw HTTP1ParseError("\(what) too long") }
        var line = buffer!.readSlice(length: lf + 1)!
        if buffer!.readableBytes == 0 { buffer = nil }
        line.moveWriterIndex(to: line.writerIndex - 1)
        guard line.readableBytes > 0, line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == 0x0D else {
            throw HTTP1ParseError("bare LF in the chunked framing")
        }
        line.moveWriterIndex(to: line.writerIndex - 1)
        let cr = line.withUnsafeReadableBytes { $0.contains(0x0D) }
        if cr { throw HTTP1ParseError("CR inside a line") }
        return line
    }

    // MARK: Grammar

    /// The index of the first LF at or after `from` (memchr: the generic search was a
    /// visible share of the proxy's time).
    @inline(__always)
    static func indexOfLF(_ raw: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard from < raw.count, let base = raw.baseAddress,
              let hit = memchr(base + from, 0x0A, raw.count - from) else { return nil }
        return UnsafeRawPointer(hit) - base
    }

    /// The lines of a head taken by `takeHead`, each without its line ending, up to the empty
    /// line that ends it.
    struct Lines {
        let raw: UnsafeRawBufferPointer
        var next = 0

        init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }

        mutating func line() -> Range<Int>? {
            guard next < raw.count, let lf = HTTP1Reader.indexOfLF(raw, from: next) else { return nil }
            var end = lf
            if end > next, raw[end - 1] == 0x0D { end -= 1 }
            defer { next = lf + 1 }
            return next..<end
        }

        /// The field lines after the start line.
        mutating func fields() throws(HTTP1ParseError) -> [HTTP1Field] {
            var fields: [HTTP1Field] = []
            fields.reserveCapacity(16)
            while let line = line(), !line.isEmpty { fields.append(try HTTP1Reader.fieldLine(raw, line)) }
            return fields
        }
    }

    /// `chunk-size [ BWS ";" chunk-ext ]` (RFC 9112 §7.1.1); at most 15 hex digits.
    static func chunkSize(_ line: ByteBuffer) throws(HTTP1ParseError) -> Int {
        try line.withUnsafeReadableBytes { raw throws(HTTP1ParseError) in
            var size = 0, i = 0
            while i < raw.count, let digit = hexValue(raw[i]) {
                guard i < 15 else { throw HTTP1ParseError("chunk size too large") }
                size = size << 4 | digit
                i += 1
            }
            guard i > 0 else { throw HTTP1ParseError("chunk size missing") }
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
                    if b == 0x5C { i += 1; guard i < raw.count, isValueByte(raw[i]) else { return false } }
                    else if !isValueByte(b) { return false }
                    i += 1
                }
                return false
            }
            while i < raw.count {
                skipBWS()  // (only before a ";": whitespace at the end of the line is refused)
                guard i < raw.count, raw[i] == UInt8(ascii: ";") else { throw HTTP1ParseError("bad chunk size") }
                i += 1
                skipBWS()
                guard token() else { throw HTTP1ParseError("bad chunk extension") }
                skipBWS()
                if i < raw.count, raw[i] == UInt8(ascii: "=") {
                    i += 1
                    skipBWS()
                    guard token() || quoted() else { throw HTTP1ParseError("bad chunk extension") }
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

    /// `field-name ":" OWS field-value OWS` (RFC 9112 §5): the name a token, no whitespace
    /// before the colon, none at the start of the line (obs-fold), the value free of control
    /// characters; the value's range excludes the surrounding whitespace.
    static func fieldLine(_ raw: UnsafeRawBufferPointer, _ line: Range<Int>) throws(HTTP1ParseError) -> HTTP1Field {
        guard raw[line.lowerBound] != 0x20, raw[line.lowerBound] != 0x09 else { throw HTTP1ParseError("folded field line") }
        // Every byte of every field line passes here (a fifth of the parsers' instructions
        // when checked one branch at a time): the colon found by memchr, the name and the
        // value checked without a branch per byte.
        guard let base = raw.baseAddress,
              let hit = memchr(base + line.lowerBound, Int32(UInt8(ascii: ":")), line.count) else {
            throw HTTP1ParseError("bad field line")
        }
        let colon = UnsafeRawPointer(hit) - base
        guard colon > line.lowerBound else { throw HTTP1ParseError("bad field line") }
        guard areTokenBytes(UnsafeRawBufferPointer(rebasing: raw[line.lowerBound..<colon])) else { throw HTTP1ParseError("bad field name") }
        var lo = colon + 1, hi = line.upperBound
        while lo < hi, raw[lo] == 0x20 || raw[lo] == 0x09 { lo += 1 }
        while hi > lo, raw[hi - 1] == 0x20 || raw[hi - 1] == 0x09 { hi -= 1 }
        try checkValueBytes(raw, lo..<hi)
        return .init(name: line.lowerBound..<colon, value: lo..<hi)
    }

    /// RFC 9112 §6.3, strictly: `Transfer-Encoding` and `Content-Length` together, a
    /// transfer coding other than a single `chunked`, or lengths that disagree are errors.
    /// `nil` when the head names neither.
    static func framing(_ raw: UnsafeRawBufferPointer, _ fields: [HTTP1Field]) throws(HTTP1ParseError) -> BodyFraming? {
        var length: Int?
        var codings = 0, lastCoding = 0..<0
        var hasTransferEncoding = false
        for field in fields {
            if ASCIICaseless.equal(raw, field.name, "content-length") {
                // Each may be a list (RFC 9110 §8.6); every item must be the same number.
                var empty = true
                for item in HTTP1ListItems(raw, field.value) {
                    empty = false
                    guard item.count <= 18, raw[item].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
                    else { throw HTTP1ParseError("invalid Content-Length") }
                    let value = raw[item].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
                    if let length, length != value { throw HTTP1ParseError("conflicting Content-Length headers") }
                    length = value
                }
                if empty { throw HTTP1ParseError("empty Content-Length") }
            } else if ASCIICaseless.equal(raw, field.name, "transfer-encoding") {
                hasTransferEncoding = true
                for item in HTTP1ListItems(raw, field.value) {
                    codings += 1
                    lastCoding = item
                }
            }
        }
        if hasTransferEncoding {
            if length != nil {
                throw HTTP1ParseError("Transfer-Encoding and Content-Length together are refused (RFC 9112 §6.3)")
            }
            guard codings == 1, ASCIICaseless.equal(raw, lastCoding, "chunked") else {
                throw HTTP1ParseError("transfer coding other than chunked", kind: .unsupportedTransferCoding)
            }
            return .chunked
        }
        return length.map { .length($0) }
    }

    /// Whether `raw` holds exactly `text` at `i`.
    @inline(__always)
    static func matches(_ raw: UnsafeRawBufferPointer, at i: Int, _ text: StaticString) -> Bool {
        i >= 0 && i + text.utf8CodeUnitCount <= raw.count
            && memcmp(raw.baseAddress! + i, text.utf8Start, text.utf8CodeUnitCount) == 0
    }

    /// Field values and the reason phrase: HTAB, SP, visible ASCII, obs-text.
    @inline(__always)
    static func checkValueBytes(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) throws(HTTP1ParseError) {
        // Eight bytes at a time: a word with no byte below 0x20 and none equal to 0x7F is
        // fine; only a word that has one (a tab, or a real control character) is looked at
        // byte by byte.
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let x = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let below20 = (x &- ones &* 0x20) & ~x & highs
            let y = x ^ (ones &* 0x7F)
            let is7F = (y &- ones) & ~y & highs
            if below20 | is7F != 0 {
                for k in i..<i + 8 where !isValueByte(raw[k]) { throw HTTP1ParseError("control character in a field value") }
            }
            i += 8
        }
        while i < range.upperBound {
            guard isValueByte(raw[i]) else { throw HTTP1ParseError("control character in a field value") }
            i += 1
        }
    }

    /// A byte a field value (or reason phrase, or quoted string) may hold: anything but the
    /// control characters other than HTAB.
    @inline(__always)
    static func isValueByte(_ b: UInt8) -> Bool { b >= 0x20 && b != 0x7F || b == 0x09 }

    /// `tchar` (RFC 9110 §5.6.2): ALPHA, DIGIT and ``!#$%&'*+-.^_`|~``, as one bit per byte
    /// value below 128 (`tokenBytesTest` checks the masks against that list).
    @inline(__always)
    static func isTokenByte(_ b: UInt8) -> Bool {
        let mask: UInt64 = b < 64 ? 0x03FF_6CFA_0000_0000 : 0x57FF_FFFF_C7FF_FFFE
        return b < 128 && (mask >> UInt64(b & 63)) & 1 == 1
    }

    /// Whether every byte is a `tchar`.
    @inline(__always)
    static func areTokenBytes(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for i in 0..<bytes.count where !isTokenByte(bytes[i]) { return false }
        return true
    }
}
