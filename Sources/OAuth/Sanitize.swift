/// Cleans text that came from a server before it is kept in an `OAuthError`
/// (SECURITY S11: no control characters or escape sequences reach a terminal or a log).
enum Sanitize {
    /// An RFC 6749 §5.2 `error` value: its charset is %x20-21 / %x23-5B / %x5D-7E;
    /// other characters are dropped, the result is cut to 64 characters, and an empty
    /// result becomes `nil`.
    static func errorCode(_ raw: String) -> String? {
        let kept = raw.unicodeScalars.filter { scalar in
            let v = scalar.value
            return (0x20...0x7E).contains(v) && v != 0x22 && v != 0x5C
        }
        let text = String(String.UnicodeScalarView(kept.prefix(64)))
            .trimming { $0 == " " }
        return text.isEmpty ? nil : text
    }

    /// Free text (`error_description`): keeps printable characters of any script, turns
    /// control, format (bidi overrides) and separator characters into spaces, collapses
    /// runs of spaces and cuts the result to `limit` characters.
    static func printable(_ raw: String, limit: Int) -> String? {
        var out = ""
        var lastWasSpace = false
        for scalar in raw.unicodeScalars {
            let isPrintable: Bool
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate,
                .unassigned, .spaceSeparator:
                isPrintable = false
            default:
                isPrintable = true
            }
            if isPrintable {
                out.unicodeScalars.append(scalar)
                lastWasSpace = false
            } else if !lastWasSpace {
                out.append(" ")
                lastWasSpace = true
            }
        }
        let text = String(out.trimming { $0 == " " }.prefix(limit))
        return text.isEmpty ? nil : text
    }
}
