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
