/// Shapes of secrets for logs and messages (SECURITY S11): a secret is shown only as
/// its length, and free text from servers is scrubbed of anything that looks like one.
public enum Redaction {
    /// `"<redacted 43 chars>"` — enough to tell an empty value from a real one.
    public static func describe(secret: String) -> String {
        "<redacted \(secret.count) chars>"
    }

    /// `describe(secret:)` for an optional value; `"<none>"` when absent.
    public static func describe(secret: String?) -> String {
        secret.map { describe(secret: $0) } ?? "<none>"
    }

    /// Replaces every word of free text that looks like a credential — 20 or more
    /// token characters (base64url, base64, hex, JWT dots) mixing letters and digits,
    /// or 32 or more of them in any mix — by `describe(secret:)`. Used on server text
    /// such as `error_description`, which a careless server may fill with the token.
    public static func scrub(_ text: String) -> String {
        var out = ""
        var word = ""
        func flush() {
            out += looksLikeSecret(word) ? describe(secret: word) : word
            word = ""
        }
        for character in text {
            if isTokenCharacter(character) {
                word.append(character)
            } else {
                flush()
                out.append(character)
            }
        }
        flush()
        return out
    }

    static func isTokenCharacter(_ character: Character) -> Bool {
        guard character.isASCII, let ascii = character.asciiValue else { return false }
        switch ascii {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "-._~+/=".contains(character)
        }
    }

    static func looksLikeSecret(_ word: String) -> Bool {
        if word.count >= 32 { return true }
        guard word.count >= 20 else { return false }
        return word.contains(where: \.isNumber) && word.contains(where: \.isLetter)
    }
}
