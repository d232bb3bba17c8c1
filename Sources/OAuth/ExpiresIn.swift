/// Turns a server's lifetime field (`expires_in` of RFC 6749 §5.1 and RFC 8628 §3.2,
/// `interval` of RFC 8628 §3.2) into seconds without any conversion that can trap
/// (SECURITY S10). The rule:
///
/// - absent or `null`: the caller's `default` (for `expires_in` of a token: unknown);
/// - a JSON number: fractions are rounded down, then the value is clamped into `range`
///   — so `-5` and `0` become the minimum and `1e300` or `2^63` the maximum;
/// - a string of decimal digits (optionally signed, with a fraction or exponent, with
///   surrounding spaces) is read leniently as that number, then clamped the same way;
/// - anything else (`"abc"`, `"inf"`, `"0x10"`, `true`, an array or object) is rejected
///   with `invalidResponse`.
///
/// Only `Double` comparisons happen before the clamp; the result is an integral `Double`
/// inside `range`, safe for `Date` arithmetic and `Int(_:)`.
enum ExpiresIn {
    /// For a token's `expires_in`: at least 1 s, at most one year.
    static let tokenRange: ClosedRange<Double> = 1...31_536_000

    /// Seconds for `value`, or `default` when it is absent or `null`.
    static func seconds(
        _ value: JSONValue?, field: String, range: ClosedRange<Double>, default fallback: Double?
    ) throws -> Double? {
        let number: Double
        switch value {
        case nil, .null?:
            return fallback
        case .number(let n)?:
            number = n
        case .string(let text)?:
            guard let parsed = parseDecimal(text) else {
                throw OAuthError.invalidField("\(field) is a string that is not a number")
            }
            number = parsed
        case .bool?, .array?, .object?:
            throw OAuthError.invalidField("\(field) is not a number")
        }
        return clamp(number, into: range)
    }

    /// Rounds down and clamps; NaN becomes the minimum, infinities the ends.
    static func clamp(_ number: Double, into range: ClosedRange<Double>) -> Double {
        guard !number.isNaN else { return range.lowerBound }
        return min(max(number.rounded(.down), range.lowerBound), range.upperBound)
    }

    /// `[+-]digits[.digits][(e|E)[+-]digits]` with spaces around; nothing else, so that
    /// `Double`'s own acceptance of `inf`, `nan` and hex is not inherited.
    static func parseDecimal(_ text: String) -> Double? {
        let trimmed = text.trimming { $0 == " " }
        var bytes = Substring(trimmed).utf8[...]
        func digits() -> Int {
            let count = bytes.prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }.count
            bytes = bytes.dropFirst(count)
            return count
        }
        func optionalSign() {
            if let first = bytes.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
                bytes = bytes.dropFirst()
            }
        }
        optionalSign()
        guard digits() > 0 else { return nil }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            guard digits() > 0 else { return nil }
        }
        if let first = bytes.first, first == UInt8(ascii: "e") || first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            optionalSign()
            guard digits() > 0 else { return nil }
        }
        guard bytes.isEmpty, trimmed.utf8.count <= 400 else { return nil }
        return Double(trimmed)
    }
}
