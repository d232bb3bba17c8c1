import NIOCore

/// An upstream response head as `UpstreamResponseParser` found it: the status, how the body
/// is framed, and each field as byte ranges into the head's own bytes — no string per field
/// on the proxy's hot path (issue 5). Every byte in the ranges has been checked: names are
/// tokens, values and the reason phrase hold no control character but HTAB (RFC 9110 §5.5,
/// RFC 9112 §4), so they can be copied into the client's response as they are.
struct UpstreamResponseHead {
    /// How the response body is delimited (RFC 9112 §6.3).
    enum Framing: Equatable {
        /// No body: a response to HEAD, 204 or 304.
        case none
        case length(Int)
        case chunked
        /// The body ends when the server closes the connection.
        case untilClose
    }

    struct Field {
        var name: Range<Int>
        var value: Range<Int>
    }

    /// 0 or 1 (HTTP/1.x).
    var minorVersion: Int
    var status: Int
    var reason: Range<Int>
    var fields: [Field]
    var framing: Framing
    /// The `Content-Length` value, also for a response to HEAD or a 304, whose bodies are
    /// empty whatever it says.
    var contentLength: Int?
    /// The connection may carry another request after this response (RFC 9112 §9.3).
    var keepAlive: Bool
    /// The head from the status line to the empty line; the ranges index into it.
    var bytes: ByteBuffer

    /// Calls `body` with the head's bytes, indexed like the ranges.
    @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeReadableBytes(body)
    }

    /// Whether the field's name is `lower` (lower-case ASCII), ignoring case.
    func name(of field: Field, is lower: StaticString) -> Bool {
        guard field.name.count == lower.utf8CodeUnitCount else { return false }
        return withBytes { ASCIICaseless.equal($0, field.name, lower) }
    }

    /// The first field named `lower`, if any.
    func first(_ lower: StaticString) -> Field? {
        fields.first { name(of: $0, is: lower) }
    }

    /// The values of every field named `lower`, as strings (for the few fields the proxy reads).
    func values(_ lower: StaticString) -> [String] {
        fields.filter { name(of: $0, is: lower) }.map(string)
    }

    /// A field's value as a string.
    func string(_ field: Field) -> String {
        withBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[field.value]), as: UTF8.self) }
    }

    /// Whether a comma-separated list field (`Connection`) contains `lower` as one item.
    func listContains(_ lower: StaticString, in fieldName: StaticString) -> Bool {
        fields.contains { field in
            name(of: field, is: fieldName) && withBytes { raw in
                Self.items(raw, field.value).contains { ASCIICaseless.equal(raw, $0, lower) }
            }
        }
    }

    /// The items of a comma-separated field value, spaces and tabs trimmed, empty ones skipped.
    static func items(_ raw: UnsafeRawBufferPointer, _ value: Range<Int>) -> Items {
        Items(raw: raw, position: value.lowerBound, end: value.upperBound)
    }

    /// The items of a list field, found as they are iterated: no array for the few list
    /// fields read in every message (`Connection`, `Content-Length`).
    struct Items: Sequence, IteratorProtocol {
        let raw: UnsafeRawBufferPointer
        var position: Int
        let end: Int

        mutating func next() -> Range<Int>? {
            while position <= end {
                var i = position
                while i < end, raw[i] != UInt8(ascii: ",") { i += 1 }
                var lo = position, hi = i
                position = i + 1
                while lo < hi, raw[lo] == 0x20 || raw[lo] == 0x09 { lo += 1 }
                while hi > lo, raw[hi - 1] == 0x20 || raw[hi - 1] == 0x09 { hi -= 1 }
                if lo < hi { return lo..<hi }
            }
            return nil
        }
    }
}
