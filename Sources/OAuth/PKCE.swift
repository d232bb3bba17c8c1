import Crypto

/// Proof Key for Code Exchange (RFC 7636): the `code_verifier` kept by the agent and the
/// `code_challenge` sent with the authorization request. Only `S256` is used (§4.2;
/// RFC 9700 §2.1.1 — `plain` offers no protection against a leaked request).
public struct PKCE: Sendable, Equatable {
    /// `code_verifier` (§4.1): 43–128 characters of `[A-Za-z0-9-._~]`.
    public let verifier: String
    /// `code_challenge` (§4.2): `BASE64URL(SHA256(ASCII(code_verifier)))`.
    public let challenge: String
    /// `code_challenge_method`: always `S256`.
    public let method: String = "S256"

    /// Wraps a given verifier, checking the §4.1 length and character rules.
    public init(verifier: String) throws {
        guard (43...128).contains(verifier.utf8.count),
            verifier.utf8.allSatisfy(PKCE.isUnreserved)
        else {
            throw OAuthError(
                code: .invalidConfiguration,
                detail: "a PKCE code_verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1)")
        }
        self.init(checkedVerifier: verifier)
    }

    private init(checkedVerifier verifier: String) {
        self.verifier = verifier
        self.challenge = Base64URL.encode(SHA256.hash(data: Array(verifier.utf8)))
    }

    /// A fresh verifier from 32 random bytes (§4.1, §7.1): 43 base64url characters.
    public static func generate() -> PKCE {
        // 32 random bytes encode to 43 base64url characters, all of them unreserved.
        PKCE(checkedVerifier: RandomValue.urlSafe(bytes: 32))
    }

    /// `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"` (RFC 3986 §2.3).
    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}

extension PKCE: CustomStringConvertible, CustomDebugStringConvertible {
    /// The challenge is public; the verifier is shown only as its length (S11).
    public var description: String {
        "PKCE(method: \(method), verifier: \(Redaction.describe(secret: verifier)))"
    }
    public var debugDescription: String { description }
}
