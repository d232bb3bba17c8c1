import Foundation
import OAuth
import Testing
@testable import Agent

/// The listener's decisions without a socket (STYLE §7; SECURITY S1, S3).
@Suite struct LoopbackFlowTests {
    static let state = "s-7f3a9c"
    static let authorizationURL = URL(string: "https://sso.example.com/authorize?client_id=desktop&state=\(state)")!
    static let host = "127.0.0.1:51234"

    func makeFlow() -> LoopbackFlow {
        LoopbackFlow(startPath: "/start-0b1d", authorizationURL: Self.authorizationURL, expectedState: Self.state,
                     expectedIssuer: nil, issuerRequired: false,
                     allowedHosts: [Self.host, "[::1]:51234", "localhost:51234"])
    }

    func callback(_ flow: inout LoopbackFlow, _ items: [String: String], host: String? = Self.host) -> LoopbackFlow.Action {
        flow.handle(method: "GET", path: "/callback", query: items.map { URLQueryItem(name: $0.key, value: $0.value) }, host: host)
    }

    @Test func startURLRedirectsOnce() {
        var flow = makeFlow()
        #expect(flow.handle(method: "GET", path: "/start-0b1d", query: [], host: Self.host) == .redirect(Self.authorizationURL))
        #expect(flow.startUsed)
        #expect(flow.handle(method: "GET", path: "/start-0b1d", query: [], host: Self.host) == .page(status: 410, .startUsed))
        #expect(flow.outcome == nil)
    }

    @Test(arguments: [nil, "evil.example.com", "127.0.0.1", "127.0.0.1:51235", "attacker.test:51234"])
    func wrongHostIsIgnored(host: String?) {
        var flow = makeFlow()
        #expect(callback(&flow, ["code": "c1", "state": Self.state], host: host) == .page(status: 421, .notForThisListener))
        #expect(flow.handle(method: "GET", path: "/start-0b1d", query: [], host: host) == .page(status: 421, .notForThisListener))
        #expect(!flow.startUsed)
        #expect(flow.outcome == nil)
        // The real callback still works afterwards.
        #expect(callback(&flow, ["code": "c1", "state": Self.state]) == .finish(.success, .code("c1")))
    }

    @Test func allowedHostsMatchCaseInsensitively() {
        var flow = makeFlow()
        #expect(callback(&flow, ["code": "c1", "state": Self.state], host: "LOCALHOST:51234") == .finish(.success, .code("c1")))
    }

    @Test func wrongPathIs404AndFaviconIsIgnored() {
        var flow = makeFlow()
        for path in ["/", "/favicon.ico", "/callback/", "/start", "/CALLBACK"] {
            #expect(flow.handle(method: "GET", path: path, query: [URLQueryItem(name: "code", value: "c"), URLQueryItem(name: "state", value: Self.state)], host: Self.host)
                    == .page(status: 404, .notForThisListener))
        }
        #expect(flow.outcome == nil)
        #expect(!flow.startUsed)
    }

    @Test func otherMethodsAreRefused() {
        var flow = makeFlow()
        #expect(flow.handle(method: "POST", path: "/callback", query: [URLQueryItem(name: "code", value: "c"), URLQueryItem(name: "state", value: Self.state)], host: Self.host)
                == .page(status: 405, .notForThisListener))
        #expect(flow.outcome == nil)
    }

    @Test func wrongOrMissingStateIsIgnoredAndTheFlowGoesOn() {
        var flow = makeFlow()
        #expect(callback(&flow, ["code": "stolen", "state": "other"]) == .page(status: 400, .unexpectedCallback))
        #expect(callback(&flow, ["code": "stolen"]) == .page(status: 400, .unexpectedCallback))
        #expect(callback(&flow, ["error": "access_denied", "state": "other"]) == .page(status: 400, .unexpectedCallback))
        #expect(flow.outcome == nil)
        #expect(callback(&flow, ["code": "good", "state": Self.state]) == .finish(.success, .code("good")))
        guard case .code("good")? = flow.outcome else {
            Issue.record("outcome is \(String(describing: flow.outcome))")
            return
        }
    }

    @Test func accessDeniedWithTheRightStateEndsTheFlow() {
        var flow = makeFlow()
        #expect(callback(&flow, ["error": "access_denied", "state": Self.state])
                == .finish(.denied, .denied(OAuthError(code: .accessDenied, oauthError: "access_denied"))))
        guard case .denied(let error)? = flow.outcome else {
            Issue.record("outcome is \(String(describing: flow.outcome))")
            return
        }
        #expect(error.code == .accessDenied)
        #expect(error.oauthError == "access_denied")
    }

    /// The flow ends with the real reason, not a blanket `access_denied`.
    @Test func theRealReasonOfAFailedResponseIsKept() {
        func outcome(_ items: [String: String], issuer: String? = nil, required: Bool = false) -> (LoopbackFlow.Action, OAuthError?) {
            var flow = LoopbackFlow(startPath: "/s", authorizationURL: Self.authorizationURL, expectedState: Self.state,
                                    expectedIssuer: issuer, issuerRequired: required, allowedHosts: [Self.host])
            let action = callback(&flow, items)
            guard case .denied(let error)? = flow.outcome else { return (action, nil) }
            return (action, error)
        }
        // RFC 9207: an iss that is not the configured issuer, or none where one is advertised.
        let (wrongIss, wrongIssError) = outcome(["code": "c", "state": Self.state, "iss": "https://evil.example"], issuer: "https://sso.example.com")
        #expect(wrongIssError?.code == .issuerMismatch)
        #expect(wrongIss == .finish(.failed, .denied(wrongIssError!)))
        let (_, missingIss) = outcome(["code": "c", "state": Self.state], issuer: "https://sso.example.com", required: true)
        #expect(missingIss?.code == .issuerMismatch)
        // The right state but no code.
        let (noCode, noCodeError) = outcome(["state": Self.state])
        #expect(noCodeError?.code == .invalidResponse)
        #expect(noCode == .finish(.failed, .denied(noCodeError!)))
        // An error other than access_denied keeps its name and description.
        let (scope, scopeError) = outcome(["error": "invalid_scope", "error_description": "scope write is not allowed", "state": Self.state])
        #expect(scopeError?.code == .oauth)
        #expect(scopeError?.oauthError == "invalid_scope")
        #expect(scopeError?.errorDescription == "scope write is not allowed")
        #expect(scope == .finish(.denied, .denied(scopeError!)))
    }

    /// What the user reads for each reason (Authorizer.denial).
    @Test func theMessageNamesTheRealReason() {
        let connection = Connection(id: "acme", jiraURL: URL(string: "https://jira.example.test")!, clientID: "desktop")
        let denied = Authorizer.denial(OAuthError(code: .accessDenied, oauthError: "access_denied"), connection: connection)
        #expect(denied.code == .authorizationFailed)
        #expect(denied.message.contains("not granted (access_denied)"))
        let iss = Authorizer.denial(OAuthError(code: .issuerMismatch, detail: "the authorization response's iss is not https://sso.example.com"), connection: connection)
        #expect(iss.code == .authorizationFailed)
        #expect(iss.message.contains("different issuer"), "\(iss.message)")
        #expect(!iss.message.contains("access_denied"))
        let noCode = Authorizer.denial(OAuthError(code: .invalidResponse, detail: "the authorization response has no code"), connection: connection)
        #expect(noCode.message.contains("has no code"), "\(noCode.message)")
        #expect(!noCode.message.contains("not granted"))
        let busy = Authorizer.denial(OAuthError(code: .oauth, oauthError: "temporarily_unavailable"), connection: connection)
        #expect(busy.code == .transient)
        #expect(busy.message.contains("temporarily_unavailable"))
    }

    @Test("a timed-out sign-in with an ephemeral port suggests redirect_ports; with fixed ports it does not")
    func timeoutSuggestsRedirectPorts() {
        let ephemeral = Connection(id: "acme", jiraURL: URL(string: "https://jira.example.com")!,
                                   authorizationURL: URL(string: "https://sso.example.com/a")!, tokenURL: URL(string: "https://sso.example.com/t")!,
                                   clientID: "c", origin: .global(file: "/etc/xdg/jira-auth-agent/connections.toml"))
        let message = Authorizer.timedOut(ephemeral, port: 43127).message
        #expect(message.contains("http://127.0.0.1:43127/callback") && message.contains("redirect_ports = [8400]")
                && message.contains("/etc/xdg/jira-auth-agent/connections.toml"), "\(message)")
        var fixed = ephemeral
        fixed.redirectPorts = [8400]
        #expect(!Authorizer.timedOut(fixed, port: 8400).message.contains("redirect_ports"))
        #expect(Authorizer.timedOut(fixed, port: 8400).message.contains("jira-auth-agent login acme"))
    }

    @Test func afterTheFinishEverythingIsGone() {
        var flow = makeFlow()
        _ = callback(&flow, ["code": "good", "state": Self.state])
        #expect(callback(&flow, ["code": "again", "state": Self.state]) == .page(status: 410, .alreadyFinished))
        #expect(flow.handle(method: "GET", path: "/start-0b1d", query: [], host: Self.host) == .page(status: 410, .alreadyFinished))
        #expect(flow.handle(method: "GET", path: "/favicon.ico", query: [], host: "evil.example.com") == .page(status: 410, .alreadyFinished))
        guard case .code("good")? = flow.outcome else {
            Issue.record("outcome is \(String(describing: flow.outcome))")
            return
        }
    }

    @Test func pagesCarryNothingFromTheRequest() {
        for page in [LoopbackPage.success, .denied, .failed, .timedOut, .alreadyFinished, .startUsed, .notForThisListener, .unexpectedCallback] {
            #expect(!page.html.contains("<script"))
            #expect(page.html.contains(page.title))
        }
    }
}
