/// ASCII case-insensitive comparisons on bytes, for the byte ranges of a received head
/// (`HTTP1Head`). Only ASCII letters are folded; every other byte must match exactly.
enum ASCIICaseless {
    @inline(__always)
    static func bytes(_ text: StaticString) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
    }

    /// Whether `a` and `b` are equal with the ASCII letters of both folded to lower case.
    @inline(__always)
    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where a[i].asciiLowercased != b[i].asciiLowercased { return false }
        return true
    }

    /// `equal` for a range of `raw` and a constant.
    @inline(__always)
    static func equal(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>, _ text: StaticString) -> Bool {
        equal(UnsafeRawBufferPointer(rebasing: raw[range]), bytes(text))
    }

    /// Whether `needle` occurs in `hay`, ASCII case ignored.
    static func contains(_ hay: UnsafeRawBufferPointer, _ needle: UnsafeRawBufferPointer) -> Bool {
        guard let first = needle.first?.asciiLowercased else { return true }
        guard hay.count >= needle.count else { return false }
        for i in 0...(hay.count - needle.count) where hay[i].asciiLowercased == first {
            var k = 1
            while k < needle.count, hay[i + k].asciiLowercased == needle[k].asciiLowercased { k += 1 }
            if k == needle.count { return true }
        }
        return false
    }
}

extension UInt8 {
    @inline(__always)
    var asciiLowercased: UInt8 { self &- 0x41 < 26 ? self | 0x20 : self }
}
