import Foundation
import Testing
@testable import OAuth

@Suite("Device authorization grant (RFC 8628)")
struct DeviceFlowTests {
    static let endpoint = URL(string: "https://as.example/o/device-authorization/")!

    @Test("request")
    func request() {
        let http = DeviceAuthorizationRequest(scope: "read write").httpRequest(endpoint: Self.endpoint, client: .none(clientID: "cli"))
        #expect(Fixture.form(http) == ["scope": "read write", "client_id": "cli"])
        #expect(http.header("Accept") == "application/json")
    }

    @Test("response parse with defaults and Google's verification_url")
    func parse() throws {
        let full = try DeviceAuthorizationResponse.parse(Fixture.json(200, """
            {"device_code":"DC-secret","user_code":"WDJB-MJHT","verification_uri":"https://as.example/device",
             "verification_uri_complete":"https://as.example/device?user_code=WDJB-MJHT","expires_in":1800,"interval":7}
            """), now: Fixture.now)
        #expect(full.deviceCode == "DC-secret")
        #expect(full.userCode == "WDJB-MJHT")
        #expect(full.verificationURI.absoluteString == "https://as.example/device")
        #expect(full.verificationURIComplete != nil)
        #expect(full.expiresAt == Fixture.now.addingTimeInterval(1800))
        #expect(full.interval == 7)
        #expect(!"\(full)".contains("DC-secret"))

        let google = try DeviceAuthorizationResponse.parse(Fixture.json(200, """
            {"device_code":"d","user_code":"u","verification_url":"https://www.google.com/device","expires_in":-3,"interval":0}
            """), now: Fixture.now)
        #expect(google.verificationURI.host == "www.google.com")
        #expect(google.expiresAt == Fixture.now.addingTimeInterval(1))
        #expect(google.interval == 1)
        let defaults = try DeviceAuthorizationResponse.parse(Fixture.json(200, """
            {"device_code":"d","user_code":"u","verification_uri":"https://as.example/device","expires_in":"1e300"}
            """), now: Fixture.now)
        #expect(defaults.interval == 5)
        #expect(defaults.expiresAt == Fixture.now.addingTimeInterval(86_400))
    }

    @Test("unsafe verification URIs and user codes with escapes are refused", arguments: [
        #"{"device_code":"d","user_code":"u","verification_uri":"javascript:alert(1)","expires_in":60}"#,
        #"{"device_code":"d","user_code":"u\u001b[2J","verification_uri":"https://as.example/d","expires_in":60}"#,
        #"{"device_code":"d","user_code":"u","expires_in":60}"#,
        #"{"user_code":"u","verification_uri":"https://as.example/d","expires_in":60}"#,
    ])
    func refused(body: String) {
        #expect(throws: OAuthError.self) { try DeviceAuthorizationResponse.parse(Fixture.json(200, body), now: Fixture.now) }
    }

    @Test("poll classification")
    func poll() {
        func outcome(_ status: Int, _ body: String) -> DevicePollOutcome {
            DevicePollOutcome.classify(Fixture.json(status, body), now: Fixture.now)
        }
        #expect(outcome(400, #"{"error":"authorization_pending"}"#) == .pending)
        #expect(outcome(400, #"{"error":"slow_down"}"#) == .slowDown)
        #expect(outcome(400, #"{"error":"access_denied"}"#) == .denied)
        #expect(outcome(400, #"{"error":"expired_token"}"#) == .expired)
        #expect(DevicePollOutcome.classify(HTTPResponseSpec(status: 429), now: Fixture.now) == .slowDown)
        guard case .tokens(let tokens) = DevicePollOutcome.classify(Fixture.tokenResponse(expiresIn: "300"), now: Fixture.now) else {
            Issue.record("a 200 token response must give tokens")
            return
        }
        #expect(tokens.accessToken == Fixture.accessToken)
        guard case .failed(let error) = outcome(400, #"{"error":"invalid_client"}"#) else {
            Issue.record("invalid_client must fail")
            return
        }
        #expect(error.isClientAuthenticationFailure && !error.isTransient, "the client's authentication, not a grant: the flow ends")
        guard case .failed(let transient) = DevicePollOutcome.classify(HTTPResponseSpec(status: 502), now: Fixture.now) else {
            Issue.record("502 must fail")
            return
        }
        #expect(transient.isTransient)
    }

    @Test("schedule: slow_down adds 5 s, no poll after the deadline")
    func schedule() {
        var schedule = DevicePollSchedule(interval: 7, deadline: Fixture.now.addingTimeInterval(20))
        #expect(schedule.nextPoll(after: Fixture.now) == Fixture.now.addingTimeInterval(7))
        schedule.slowDown()
        #expect(schedule.interval == 12)
        #expect(schedule.nextPoll(after: Fixture.now) == Fixture.now.addingTimeInterval(12))
        #expect(schedule.nextPoll(after: Fixture.now.addingTimeInterval(9)) == nil)
        schedule.slowDown()
        #expect(schedule.interval == 17)
        #expect(!schedule.isExpired(at: Fixture.now))
        #expect(schedule.isExpired(at: Fixture.now.addingTimeInterval(20)))
        #expect(DevicePollSchedule(interval: -1, deadline: Fixture.now).interval == 1)
        #expect(DevicePollSchedule(interval: .infinity, deadline: Fixture.now).interval == DevicePollSchedule.maximumInterval)
    }
}
