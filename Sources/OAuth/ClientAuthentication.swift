import FoundationEssentials

/// How the client authenticates at the token, revocation and device authorization
/// endpoints (RFC 6749 §2.3; the `client_auth` setting of a connection).
public enum ClientAuthentication: Sendable, Equatable {
    /// `client_secret_basic` (§2.3.1): HTTP Basic with the id and secret each
    /// form-urlencoded first (Appendix B), then joined by `:` and base64-encoded.
    case basic(clientID: String, secret: String)
    /// `client_secret_post` (§2.3.1): `client_id` and `client_secret` in the body.
    case post(clientID: String, secret: String)
    /// A public client (§2.1): `client_id` in the body, PKCE as its proof.
    case none(clientID: String)

    /// The `client_id`.
    public var clientID: String {
        switch self {
        case .basic(let id, _), .post(let id, _), .none(let id): return id
        }
    }

    /// `Basic base64(urlencode(id):urlencode(secret))` for `.basic`, else `nil`.
    var authorizationHeaderValue: String? {
        guard case .basic(let id, let secret) = self else { return nil }
        let credentials = "\(FormURLEncoding.escape(id)):\(FormURLEncoding.escape(secret))"
        return "Basic \(Data(credentials.utf8).base64EncodedString())"
    }

    /// The body parameters this authentication adds. With Basic the body carries no
    /// `client_id`: §4.1.3 asks for it only when the client does not authenticate.
    var bodyParameters: [(String, String)] {
        switch self {
        case .basic: return []
        case .post(let id, let secret): return [("client_id", id), ("client_secret", secret)]
        case .none(let id): return [("client_id", id)]
        }
    }
}

extension ClientAuthentication: CustomStringConvertible, CustomDebugStringConvertible {
    /// The method and the client id; never the secret (SECURITY S11).
    public var description: String {
        switch self {
        case .basic(let id, let secret): return "client_secret_basic(\(id), secret: \(Redaction.describe(secret: secret)))"
        case .post(let id, let secret): return "client_secret_post(\(id), secret: \(Redaction.describe(secret: secret)))"
        case .none(let id): return "none(\(id))"
        }
    }
    public var debugDescription: String { description }
}
