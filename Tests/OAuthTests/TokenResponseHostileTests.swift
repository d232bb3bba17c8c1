import Foundation
import Testing
@testable import OAuth

/// One hostile token endpoint answer and how it must be classified (SECURITY S3, S10, S11).
struct HostileCase: Sendable, CustomTestStringConvertible {
    let name: String
    let response: HTTPResponseSpec
    let code: OAuthError.Code
    let reauthorize: Bool
    let transient: Bool
    var testDescription: String { name }
}

@Suite("Token response: hostile and failing servers")
struct TokenResponseHostileTests {
    static let at = Fixture.accessToken
    static let html = "<html><body>Login portal \(Fixture.accessToken)</body></html>"

    static let cases: [HostileCase] = [
        HostileCase(name: "non-JSON", response: HTTPResponseSpec(status: 200, body: Data("access_token=\(at)&x".utf8)),
                    code: .invalidResponse, reauthorize: false, transient: false),
        HostileCase(name: "HTML 200", response: HTTPResponseSpec(
                        status: 200, headers: [(name: "Content-Type", value: "text/html")], body: Data(html.utf8)),
                    code: .invalidResponse, reauthorize: false, transient: false),
        HostileCase(name: "JSON array", response: Fixture.json(200, "[\"\(at)\"]"),
                    code: .invalidResponse, reauthorize: false, transient: false),
        HostileCase(name: "missing access_token", response: Fixture.json(200, #"{"token_type":"Bearer","refresh_token":"\#(Fixture.refreshToken)"}"#),
                    code: .invalidResponse, reauthorize: false, transient: false),
        HostileCase(name: "empty access_token", response: Fixture.json(200, #"{"access_token":"","token_type":"Bearer"}"#),
                    code: .invalidResponse, reauthorize: false, transient: false),
        HostileCase(name: "access_token with CRLF", response: Fixture.json(200, #"{"access_token":"\#(at)\r\nX-Evil: 1","token_type":"Bearer"}"#),
                    code: .invalidResponse, reauthorize: false, transient: false),
        HostileCase(name: "numeric access_token", response: Fixture.json(200, #"{"access_token":12345,"token_type":"Bearer"}"#),
                    code: .invalidResponse, reauthorize: false, transient: false),
        HostileCase(name: "token_type mac", response: Fixture.json(200, #"{"access_token":"\#(at)","token_type":"mac"}"#),
                    code: .invalidResponse, reauthorize: false, transient: false),
        HostileCase(name: "token_type missing", response: Fixture.json(200, #"{"access_token":"\#(at)"}"#),
                    code: .invalidResponse, reauthorize: false, transient: false),
        HostileCase(name: "huge body", response: HTTPResponseSpec(
                        status: 200, body: Data(("{\"access_token\":\"\(at)\",\"token_type\":\"Bearer\",\"pad\":\""
                                                 + String(repeating: "x", count: 1 << 20) + "\"}").utf8)),
                    code: .invalidResponse, reauthorize: false, transient: false),
        HostileCase(name: "deeply nested", response: HTTPResponseSpec(status: 200, body: Data(String(repeating: "[", count: 100_000).utf8)),
                    code: .invalidResponse, reauthorize: false, transient: false),
        HostileCase(name: "302", response: HTTPResponseSpec(
                        status: 302, headers: [(name: "Location", value: "https://evil.example/?t=\(at)")], body: Data(html.utf8)),
                    code: .redirected, reauthorize: false, transient: false),
        HostileCase(name: "500 HTML", response: HTTPResponseSpec(status: 500, body: Data(html.utf8)),
                    code: .httpStatus, reauthorize: false, transient: true),
        HostileCase(name: "503 empty", response: HTTPResponseSpec(status: 503),
                    code: .httpStatus, reauthorize: false, transient: true),
        HostileCase(name: "429", response: HTTPResponseSpec(status: 429),
                    code: .httpStatus, reauthorize: false, transient: true),
        HostileCase(name: "400 invalid_grant", response: Fixture.json(400, #"{"error":"invalid_grant","error_description":"Refresh token \#(Fixture.refreshToken) is revoked"}"#),
                    code: .oauth, reauthorize: true, transient: false),
        HostileCase(name: "400 empty body", response: HTTPResponseSpec(status: 400),
                    code: .httpStatus, reauthorize: false, transient: true),
        HostileCase(name: "403 HTML", response: HTTPResponseSpec(status: 403, body: Data(html.utf8)),
                    code: .httpStatus, reauthorize: false, transient: true),
        HostileCase(name: "401 invalid_client", response: Fixture.json(401, #"{"error":"invalid_client"}"#),
                    code: .oauth, reauthorize: false, transient: false),
        HostileCase(name: "non-standard error", response: Fixture.json(400, #"{"error":"token_revoked_by_admin","error_description":"\u001b[31mgone\u0007"}"#),
                    code: .oauth, reauthorize: true, transient: false),
        HostileCase(name: "error in a 200", response: Fixture.json(200, #"{"error":"bad_verification_code"}"#),
                    code: .oauth, reauthorize: true, transient: false),
        HostileCase(name: "503 server_error JSON", response: Fixture.json(503, #"{"error":"server_error"}"#),
                    code: .oauth, reauthorize: false, transient: true),
        HostileCase(name: "400 temporarily_unavailable", response: Fixture.json(400, #"{"error":"temporarily_unavailable"}"#),
                    code: .oauth, reauthorize: false, transient: true),
        HostileCase(name: "404", response: HTTPResponseSpec(status: 404, body: Data(html.utf8)),
                    code: .httpStatus, reauthorize: false, transient: false),
    ]

    @Test("classification and a message without secrets or body", arguments: cases)
    func hostile(_ hostile: HostileCase) {
        let previous = TokenSet(accessToken: "old", refreshToken: Fixture.refreshToken)
        let error = #expect(throws: OAuthError.self) {
            try TokenResponse.parse(hostile.response, now: Fixture.now, previous: previous)
        }
        guard let error else { return }
        #expect(error.code == hostile.code)
        #expect(error.requiresReauthorization == hostile.reauthorize)
        #expect(error.isTransient == hostile.transient)
        #expect(error.httpStatus == hostile.response.status)
        for text in [error.description, String(reflecting: error), "\(error)"] {
            #expect(!text.contains(Fixture.accessToken))
            #expect(!text.contains(Fixture.refreshToken))
            #expect(!text.contains("<html"))
            #expect(!text.contains("\u{1b}") && !text.contains("\u{07}"))
            #expect(!text.isEmpty && text.count < 600)
            if !hostile.response.body.isEmpty {
                #expect(!text.contains(String(decoding: hostile.response.body, as: UTF8.self)))
            }
        }
    }

    @Test("error_description is sanitized and cut to 200 characters")
    func sanitized() throws {
        let long = String(repeating: "ab ", count: 200)
        let error = #expect(throws: OAuthError.self) {
            try TokenResponse.parse(Fixture.json(400, #"{"error":"invalid_grant","error_description":"x\n\u202Ey \#(long)"}"#),
                                    now: Fixture.now, previous: nil)
        }
        let text = try #require(error?.errorDescription)
        #expect(text.count <= 200)
        #expect(text.hasPrefix("x y ab"))
        #expect(error?.description.contains("invalid_grant") == true)
    }
}
