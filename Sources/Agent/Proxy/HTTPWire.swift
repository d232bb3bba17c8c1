import NIOCore
import NIOHTTP1

/// The proxy writes its HTTP/1.1 messages as bytes (RFC 9112): the request head toward the
/// upstream, response heads toward the client, chunk framing. NIO's encoders built
/// `HTTPHeaders` of strings for every message and re-encoded them; most of what is written
/// here is copied from bytes already checked by a parser (`ClientRequestParser` for
/// requests, `UpstreamResponseParser` for responses), the rest is constants, numbers and the
/// configuration.
enum HTTPWire {
    /// The end of a chunk's data.
    static let crlf = ByteBuffer(staticString: "\r\n")
    /// The last chunk of a chunked body, with no trailers.
    static let lastChunk = ByteBuffer(staticString: "0\r\n\r\n")

    /// `<size in hex>\r\n`, before a chunk's data (RFC 9112 §7.1).
    static func chunkHeader(_ allocator: ByteBufferAllocator, size: Int) -> ByteBuffer {
        precondition(size > 0)
        var out = allocator.buffer(capacity: 18)
        var shift = (Int.bitWidth - size.leadingZeroBitCount - 1) / 4 * 4
        while shift >= 0 {
            let d = UInt8((size >> shift) & 0xF)
            out.writeInteger(d < 10 ? UInt8(ascii: "0") + d : UInt8(ascii: "a") + d - 10)
            shift -= 4
        }
        out.writeStaticString("\r\n")
        return out
    }

    /// A complete response with `Content-Length`: the agent's own answers. A response to
    /// HEAD keeps the length and leaves the body out (RFC 9110 §9.3.2); 1xx, 204 and 304
    /// have neither (§8.6). A field that is not a token name with a value free of control
    /// characters is left out.
    static func response(_ allocator: ByteBufferAllocator, minor: Int, status: Int, headers: [(String, String)],
                         body: [UInt8], toHEAD: Bool = false, close: Bool) -> ByteBuffer {
        let fields = headers.filter { isFieldSafe(name: $0.0, value: $0.1) }
        let reason = HTTPResponseStatus(statusCode: status).reasonPhrase
        let bodiless = status < 200 || status == 204 || status == 304
        // Status line, length, `Connection` and the empty line take at most 73 bytes + reason.
        var reserve = 96 + reason.utf8.count
        for (name, value) in fields { reserve += name.utf8.count + value.utf8.count + 4 }
        var out = allocator.buffer(capacity: reserve + body.count)
        out.write(reserving: reserve) { w in
            w.append(minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
            w.appendDecimal(min(max(status, 100), 999))
            w.append(" ")
            w.append(reason)
            w.append("\r\n")
            for (name, value) in fields {
                w.append(name)
                w.append(": ")
                w.append(value)
                w.append("\r\n")
            }
            if !bodiless {
                w.append("Content-Length: ")
                w.appendDecimal(body.count)
                w.append("\r\n")
            }
            if close { w.append("Connection: close\r\n") }
            w.append("\r\n")
        }
        if !bodiless && !toHEAD { out.writeBytes(body) }
        return out
    }

    static func isFieldSafe(name: String, value: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy(HTTP1Reader.isTokenByte)
            && value.utf8.allSatisfy(HTTP1Reader.isValueByte)
    }
}

/// Appends bytes to memory reserved up front. A message head is some twenty small pieces;
/// written one by one into a `ByteBuffer`, each paid a capacity check, a uniqueness check
/// and an exclusivity check (about a tenth of the proxy's user time). Overrunning the
/// reservation is a programming error and stops the process rather than write past it.
struct ByteWriter {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private(set) var count = 0

    init(_ memory: UnsafeMutableRawBufferPointer) {
        base = memory.baseAddress!
        capacity = memory.count
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        precondition(bytes.count <= capacity - count, "ByteWriter: reservation too small")
        (base + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        count += bytes.count
    }

    @inline(__always)
    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(__always)
    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    mutating func append(byte: UInt8) {
        precondition(count < capacity, "ByteWriter: reservation too small")
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// A non-negative decimal number (at most 19 digits).
    mutating func appendDecimal(_ value: Int) {
        precondition(value >= 0)
        var v = value, divisor = 1
        while v / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            append(byte: UInt8(ascii: "0") + UInt8(v / divisor))
            v %= divisor
            divisor /= 10
        }
    }
}

extension ByteBuffer {
    /// Writes through a `ByteWriter` into `reserve` bytes reserved at the end of the buffer.
    mutating func write(reserving reserve: Int, _ body: (inout ByteWriter) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: reserve) { memory in
            var writer = ByteWriter(UnsafeMutableRawBufferPointer(rebasing: memory.prefix(reserve)))
            body(&writer)
            return writer.count
        }
    }
}
