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
