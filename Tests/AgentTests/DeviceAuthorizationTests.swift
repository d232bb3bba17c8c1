import Foundation
import Logging
import NIOCore
import NIOConcurrencyHelpers
import OAuth
import Testing
import TestSupport
@testable import Agent

/// The device grant's polling against a scripted authorization server (issue 14, item 7).
@Suite(.timeLimit(.minutes(1)))
struct DeviceAuthorizationTests {
    static func client(_ upstream: RecordingUpstream) -> (ConnectionOAuthClient, ProviderEndpoints) {
        let base = "http://127.0.0.1:\(upstream.port)"
        let connection = Connection(id: "device", jiraURL: URL(string: "https://jira.example.test")!,
                                    authorizationURL: URL(string: "\(base)/authorize")!, tokenURL: URL(string: "\(base)/token")!,
                                    deviceAuthorizationURL: URL(string: "\(base)/device")!, clientID: "desktop", clientAuth: .none)
        let client = ConnectionOAuthClient(connection: connection, http: OutboundHTTPClient(timeout: .seconds(5)),
                                           secrets: ClientSecretSource(), logger: Logger(label: "test"))
        let endpoints = ProviderEndpoints(authorization: URL(string: "\(base)/authorize")!, token: URL(string: "\(base)/token")!,
                                          deviceAuthorization: URL(string: "\(base)/device")!)
        return (client, endpoints)
    }

    /// The server fails twice while the user confirms (a 503 page, then a 500 with
    /// `server_error`), says pending once, then issues the tokens: polling goes on, further
    /// apart after each failure, and the sign-in succeeds.
    @Test func transientFailuresWhilePollingAreRetriedUntilTheCodeExpires() async throws {
        let polls = NIOLockedValueBox(0)
        let upstream = try await RecordingUpstream { request in
            if request.uri.hasPrefix("/device") {
                return .json(#"{"device_code":"dc-1","user_code":"WDJB-MJHT","verification_uri":"http://127.0.0.1/verify","expires_in":60,"interval":1}"#)
            }
            let n = polls.withLockedValue { $0 += 1; return $0 }
            switch n {
            case 1: return .init(status: 503, headers: [("Content-Type", "text/html")], body: Array("<html>maintenance</html>".utf8))
            case 2: return .json(#"{"error":"server_error"}"#, status: 500)
            case 3: return .json(#"{"error":"authorization_pending"}"#, status: 400)
            default: return .json(#"{"access_token":"at-device","token_type":"Bearer","expires_in":300,"refresh_token":"rt-device"}"#)
            }
        }
        let (client, endpoints) = Self.client(upstream)
        let announced = NIOLockedValueBox<[String]>([])
        let tokens = try await DeviceAuthorization(client: client, endpoints: endpoints, logger: Logger(label: "test"))
            .run(announce: { line in announced.withLockedValue { $0.append(line) } })
        #expect(tokens.accessToken == "at-device" && tokens.refreshToken == "rt-device")
        #expect(polls.withLockedValue { $0 } == 4)
        let prompt = try #require(announced.withLockedValue { $0 }.first)
        #expect(prompt.contains("WDJB-MJHT") && prompt.contains("never enter a code that someone sent you"))
    }

    @Test func backOffDoublesUpToTheMaximum() {
        var schedule = DevicePollSchedule(interval: 5, deadline: Date().addingTimeInterval(600))
        schedule.backOff()
        #expect(schedule.interval == 10)
        for _ in 0..<20 { schedule.backOff() }
        #expect(schedule.interval == DevicePollSchedule.maximumInterval)
    }
}
