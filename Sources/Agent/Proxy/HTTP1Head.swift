import NIOCore

/// A field line of a head read by `HTTP1Reader`: its name and its value (spaces and tabs
/// around it trimmed) as byte ranges into the head's bytes.
struct HTTP1Field {
    var name: Range<Int>
    var value: Range<Int>
}

/// A request or response head as `HTTP1Reader` found it: the head's own bytes and each field
/// as byte ranges into them — no string per field on the proxy's hot path (issue 5). Every
/// byte in the ranges has been checked: names are tokens, values hold no control character
/// but HTAB (RFC 9110 §5.5, RFC 9112 §4), so they can be copied into another message as
/// they are.
protocol HTTP1Head {
    var fields: [HTTP1Field] { get }
    /// The head from its first line to the empty line; the ranges index into it.
    var bytes: ByteBuffer { get }
}

extension HTTP1Head {
    /// Calls `body` with the head's bytes, indexed like the ranges.
    @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeReadableBytes(body)
    }

    /// The first field named `lower`, if any. (One look at the bytes for all the fields:
    /// each look costs an exclusivity check of the buffer's storage.)
    func first(_ lower: StaticString) -> HTTP1Field? {
        withBytes { raw in fields.first { Self.name(raw, $0, is: lower) } }
    }

    /// The values of every field named `lower`, as strings (for the few fields the proxy reads).
    func values(_ lower: StaticString) -> [String] {
        withBytes { raw in fields.filter { Self.name(raw, $0, is: lower) } }.map(string)
    }

    /// Whether the field's name is `lower` (lower-case ASCII), ignoring case; `raw` is the
    /// head's bytes.
    @inline(__always)
    static func name(_ raw: UnsafeRawBufferPointer, _ field: HTTP1Field, is lower: StaticString) -> Bool {
        field.name.count == lower.utf8CodeUnitCount && ASCIICaseless.equal(raw, field.name, lower)
    }

    /// A field's value as a string.
    func string(_ field: HTTP1Field) -> String {
        string(field.value)
    }

    /// The bytes of `range` as a string.
    func string(_ range: Range<Int>) -> String {
        withBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[range]), as: UTF8.self) }
    }

    /// Whether a comma-separated list field (`Connection`) contains `lower` as one item.
    func listContains(_ lower: StaticString, in fieldName: StaticString) -> Bool {
        withBytes { raw in
            fields.contains { field in
                Self.name(raw, field, is: fieldName) && HTTP1ListItems(raw, field.value).contains { ASCIICaseless.equal(raw, $0, lower) }
            }
        }
    }
}

/// The items of a comma-separated field value, spaces and tabs trimmed, empty ones skipped,
/// found as they are iterated: no array for the few list fields read in every message
/// (`Connection`, `Content-Length`).
struct HTTP1ListItems: Sequence, IteratorProtocol {
    let raw: UnsafeRawBufferPointer
    var position: Int
    let end: Int

    init(_ raw: UnsafeRawBufferPointer, _ value: Range<Int>) {
        self.raw = raw
        position = value.lowerBound
        end = value.upperBound
    }

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
