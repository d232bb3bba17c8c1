import Foundation
@testable import OAuth

/// Small builders for the tests of this module: JSON responses and form bodies.
enum Fixture {
    static let now = Date(timeIntervalSince1970: 1_700_000_000)
    static let tokenEndpoint = URL(string: "https://as.example/o/token/")!
    static let redirectURI = URL(string: "http://127.0.0.1:49152/callback")!
    static let accessToken = "AT-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    static let refreshToken = "RT-0a1b2c3d4e5f60718293a4b5c6d7e8f9"

    /// A response with a JSON body given as text.
    static func json(_ status: Int, _ body: String) -> HTTPResponseSpec {
        HTTPResponseSpec(
            status: status, headers: [(name: "Content-Type", value: "application/json")],
            body: Data(body.utf8))
    }

    /// A 200 token response with the given `expires_in` JSON literal (or none).
    static func tokenResponse(expiresIn: String?, extra: String = "") -> HTTPResponseSpec {
        var fields = [#""access_token":"\#(accessToken)""#, #""token_type":"Bearer""#]
        if let expiresIn { fields.append(#""expires_in":\#(expiresIn)"#) }
        if !extra.isEmpty { fields.append(extra) }
        return json(200, "{" + fields.joined(separator: ",") + "}")
    }

    /// The form body of a request as name → value (repeats would overwrite: checked apart).
    static func form(_ request: HTTPRequestSpec) -> [String: String] {
        let items = FormURLEncoding.decode(String(decoding: request.body, as: UTF8.self))
        return Dictionary(items.map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { first, _ in first })
    }

    /// A compact JWT with the given payload and a dummy signature.
    static func jwt(_ payload: String) -> String {
        "\(Base64URL.encode(Array(#"{"alg":"RS256"}"#.utf8))).\(Base64URL.encode(Array(payload.utf8))).c2ln"
    }
}
