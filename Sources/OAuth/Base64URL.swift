import FoundationEssentials

/// base64url without padding (RFC 4648 §5, as RFC 7636 §3 and JWT use it).
enum Base64URL {
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
            .replacing("+", with: "-")
            .replacing("/", with: "_")
            .replacing("=", with: "")
    }

    /// Decodes with or without padding; `nil` for anything outside the alphabet.
    static func decode(_ text: some StringProtocol) -> Data? {
        var base64 = String(text).replacing("-", with: "+")
            .replacing("_", with: "/")
        guard !base64.contains("=") || base64.hasSuffix("=") else { return nil }
        base64 = base64.replacing("=", with: "")
        let remainder = base64.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { base64 += String(repeating: "=", count: 4 - remainder) }
        return Data(base64Encoded: base64)
    }
}
