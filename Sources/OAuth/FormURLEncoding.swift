public import FoundationEssentials

/// `application/x-www-form-urlencoded` as RFC 6749 Appendix B requires it for request
/// bodies, the authorization query and the Basic credentials (§2.3.1): UTF-8, alphanumerics
/// and `*-._` kept, space as `+`, every other byte as `%XX`. So a `+` or `&` in a value
/// travels as `%2B` and `%26`, never as a space or a separator.
public enum FormURLEncoding {
    /// Encodes one name or value.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "*"), UInt8(ascii: "-"),
                UInt8(ascii: "."), UInt8(ascii: "_"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "):
                out.append("+")
            default:
                out.append("%")
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return out
    }

    /// `name=value&name=value`, in the given order.
    public static func encode(_ parameters: [(String, String)]) -> String {
        parameters.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    /// Decodes a query string or form body (`+` is a space) into items in order,
    /// duplicates kept so that callers can refuse them. Undecodable escapes are kept as
    /// written; a name without `=` gets an empty value.
    public static func decode(_ query: String) -> [URLQueryItem] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = unescape(parts[0])
            let value = parts.count > 1 ? unescape(parts[1]) : ""
            return URLQueryItem(name: name, value: value)
        }
    }

    static func unescape(_ text: Substring) -> String {
        let spaced = String(text).replacing("+", with: " ")
        return spaced.removingPercentEncodingASCII() ?? spaced
    }

    private static let hexDigits: [Character] = Array("0123456789ABCDEF")
}
