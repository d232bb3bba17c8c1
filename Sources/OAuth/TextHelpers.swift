/// The few string operations the agent needs that only Foundation's full module (with
/// CoreFoundation and ICU) provides; the binaries link FoundationEssentials alone.
extension StringProtocol {
    /// Without leading and trailing characters matching `predicate`.
    public func trimming(while predicate: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !predicate($0) }),
              let last = lastIndex(where: { !predicate($0) }) else { return "" }
        return String(self[first...last])
    }

    /// Every byte printable ASCII, %x20-7E (RFC 6749's VSCHAR): nothing that can end or
    /// split a header line.
    public var isPrintableASCII: Bool { utf8.allSatisfy { (0x20...0x7E).contains($0) } }

    /// Without leading and trailing white space and line breaks (as
    /// `trimmingCharacters(in: .whitespacesAndNewlines)`).
    public func trimmingWhitespace() -> String {
        trimming { $0.isWhitespace || $0.isNewline }
    }
}

extension String {
    /// Percent-decoding; `nil` on a malformed escape or when the bytes are not UTF-8 (as
    /// Foundation's `removingPercentEncoding`).
    public func removingPercentEncodingASCII() -> String? {
        guard utf8.contains(UInt8(ascii: "%")) else { return self }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var it = utf8.makeIterator()
        while let b = it.next() {
            guard b == UInt8(ascii: "%") else { bytes.append(b); continue }
            guard let h = it.next(), let l = it.next(),
                  let hv = Self.hexValue(h), let lv = Self.hexValue(l) else { return nil }
            bytes.append(hv << 4 | lv)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
