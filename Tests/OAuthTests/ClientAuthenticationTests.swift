import Foundation
import Testing
@testable import OAuth

@Suite("Client authentication and form encoding (RFC 6749 §2.3.1, Appendix B)")
struct ClientAuthenticationTests {
    @Test("Basic form-urlencodes id and secret before base64")
    func basicHeader() {
        let client = ClientAuthentication.basic(clientID: "my client:1", secret: "p@ss+wörd/&=")
        let request = TokenRequest.refresh(refreshToken: "r", scope: nil)
            .httpRequest(endpoint: Fixture.tokenEndpoint, client: client)
        // base64("my+client%3A1:p%40ss%2Bw%C3%B6rd%2F%26%3D"), computed with Python.
        #expect(request.header("authorization") == "Basic bXkrY2xpZW50JTNBMTpwJTQwc3MlMkJ3JUMzJUI2cmQlMkYlMjYlM0Q=")
        let form = Fixture.form(request)
        #expect(form["client_id"] == nil)
        #expect(form["client_secret"] == nil)
    }

    @Test("post puts id and secret in the body, escaped")
    func post() {
        let client = ClientAuthentication.post(clientID: "id&x", secret: "s+e c=")
        let request = TokenRequest.refresh(refreshToken: "r", scope: nil)
            .httpRequest(endpoint: Fixture.tokenEndpoint, client: client)
        #expect(request.header("Authorization") == nil)
        let body = String(decoding: request.body, as: UTF8.self)
        #expect(body.contains("client_id=id%26x"))
        #expect(body.contains("client_secret=s%2Be+c%3D"))
    }

    @Test("none sends only client_id")
    func none() {
        let request = TokenRequest.refresh(refreshToken: "r", scope: nil)
            .httpRequest(endpoint: Fixture.tokenEndpoint, client: .none(clientID: "cli"))
        #expect(request.header("Authorization") == nil)
        #expect(Fixture.form(request)["client_id"] == "cli")
        #expect(Fixture.form(request)["client_secret"] == nil)
    }

    @Test("descriptions never show the secret")
    func description() {
        for client in [ClientAuthentication.basic(clientID: "c", secret: "hunter2-secret"),
                       .post(clientID: "c", secret: "hunter2-secret")] {
            #expect(!"\(client)".contains("hunter2"))
            #expect(!String(reflecting: client).contains("hunter2"))
            #expect(client.clientID == "c")
        }
        let request = TokenRequest.refresh(refreshToken: "r", scope: nil)
            .httpRequest(endpoint: Fixture.tokenEndpoint, client: .basic(clientID: "c", secret: "hunter2"))
        #expect(!"\(request)".contains("aHVudGVy"))
    }

    @Test("form encoding round-trips every troublesome character")
    func roundTrip() {
        let value = "a+b&c=d e%f/é~*"
        let encoded = FormURLEncoding.encode([("k", value)])
        #expect(encoded == "k=a%2Bb%26c%3Dd+e%25f%2F%C3%A9%7E*")
        #expect(FormURLEncoding.decode(encoded).first?.value == value)
    }
}
