/// Unguessable values for `state` (RFC 6749 §10.10, §10.12; RFC 9700 §2.1 — 128 bits or
/// more) and the OpenID Connect `nonce`. The bytes come from `SystemRandomNumberGenerator`,
/// which is `getrandom(2)` on Linux and `arc4random_buf` on Darwin.
public enum RandomValue {
    /// Fewer bytes than this are raised to it: 16 bytes are 128 bits.
    public static let minimumBytes = 16

    /// `bytes` random bytes (at least 16) as base64url without padding: 22 characters for 16.
    public static func urlSafe(bytes: Int = 16) -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64URL.encode(randomBytes(max(bytes, minimumBytes), using: &generator))
    }

    static func randomBytes(_ count: Int, using generator: inout some RandomNumberGenerator) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 8)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        return Array(bytes.prefix(count))
    }
}

/// Comparison whose running time does not depend on where two secrets first differ
/// (SECURITY S4: `state` and `nonce` are compared this way).
public enum ConstantTime {
    /// True when the UTF-8 bytes of `a` and `b` are equal. Only the lengths leak.
    public static func equals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count) | (x.count == y.count ? 0 : 1)
        for index in 0..<max(x.count, y.count) {
            let left = index < x.count ? x[index] : 0
            let right = index < y.count ? y[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }
}
