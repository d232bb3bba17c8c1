import FoundationEssentials
public import Logging
import OAuth

/// One line of `jira-auth-agent connections test`.
public struct SelfTestCheck: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        /// ✓
        case passed
        /// ✗: the connection will not work; `detail` says what to fix.
        case failed
        /// !: works, with a caveat.
        case warning
        /// –: could not be checked (a check it depends on failed, or nothing to check).
        case skipped
    }
    public var name: String
    public var outcome: Outcome
    public var detail: String
}

/// The admin's "Connect" step (issue 16 item 1): every check a first sign-in would
/// otherwise find one at a time, without a user. Sends no user credential anywhere; the
/// last check goes through the running agent's proxy, so no raw token is handled here.
public struct ConnectionSelfTest: Sendable {
    public let connection: Connection
    let problems: [ConfigProblem]
    let http: OutboundHTTPClient
    let secrets: ClientSecretSource
    let logger: Logger
    /// The running agent's proxy base (`http://127.0.0.1:PORT`), when one runs.
    let proxyBase: String?
    /// Whether the running agent holds a grant for the connection.
    let signedIn: Bool

    public init(connection: Connection, problems: [ConfigProblem], http: OutboundHTTPClient, secrets: ClientSecretSource,
                logger: Logger, proxyBase: String?, signedIn: Bool) {
        self.connection = connection
        self.problems = problems
        self.http = http
        self.secrets = secrets
        self.logger = logger
        self.proxyBase = proxyBase
        self.signedIn = signedIn
    }

    /// What the API base is called in the lines: where API calls go.
    var apiName: String { connection.gatewayURL == nil ? "Jira" : "API gateway" }

    /// A made-up code: a server that accepts the client's credentials answers `invalid_grant`.
    static let probeCode = "jira-auth-agent-self-test-" + RandomValue.urlSafe(bytes: 8)

    public func run() async -> [SelfTestCheck] {
        var checks: [SelfTestCheck] = []
        let file = connection.origin.file
        if problems.isEmpty {
            checks.append(.init(name: "catalog entry", outcome: .passed, detail: "valid (\(file))"))
        } else {
            checks.append(.init(name: "catalog entry", outcome: .failed, detail: problems.map(\.description).joined(separator: "; ")))
        }

        let client = ConnectionOAuthClient(connection: connection, http: http, secrets: secrets, logger: logger)
        let endpoints: ProviderEndpoints?
        do {
            endpoints = try await client.endpoints()
            checks.append(connection.issuer.map { .init(name: "discovery", outcome: .passed, detail: "the metadata's issuer is \($0)") }
                          ?? .init(name: "discovery", outcome: .skipped, detail: "no issuer set; authorization_url and token_url are used as given"))
        } catch {
            endpoints = nil
            checks.append(.init(name: "discovery", outcome: .failed, detail: "\(error)"))
        }

        var targets: [(String, URL)] = []
        if let endpoints {
            targets.append(("authorization endpoint", endpoints.authorization))
            targets.append(("token endpoint", endpoints.token))
            if let r = endpoints.revocation { targets.append(("revocation endpoint", r)) }
            if let d = endpoints.deviceAuthorization { targets.append(("device endpoint", d)) }
        }
        targets.append((apiName, connection.apiBaseURL))
        var reachable: Set<String> = []
        let extra = (try? ExtraHeaders.fields(for: connection)) ?? []
        for (name, url) in targets {
            do {
                let headers = url == connection.apiBaseURL ? extra : []
                let response = try await http.send(HTTPRequestSpec(method: "GET", url: url, headers: headers, body: Data()), tls: connection.tlsOptions)
                reachable.insert(name)
                let tls = url.scheme == "https" ? "verified TLS, " : "plain http on loopback, "
                checks.append(.init(name: "reachable: \(name)", outcome: .passed, detail: "\(url.absoluteString) (\(tls)HTTP \(response.status))"))
            } catch {
                checks.append(.init(name: "reachable: \(name)", outcome: .failed, detail: "\(url.absoluteString): \(error)"))
            }
        }
        if endpoints == nil { checks.append(.init(name: "revocation endpoint", outcome: .skipped, detail: "no endpoints known")) }
        else if endpoints?.revocation == nil {
            checks.append(.init(name: "revocation endpoint", outcome: .warning,
                                detail: "none configured or discovered: `revoke` can only delete local tokens, which stay valid at the server until they expire; set revocation_url"))
        }

        if let endpoints, reachable.contains("token endpoint") {
            checks.append(await clientAuthentication(endpoints.token))
        } else {
            checks.append(.init(name: "client authentication", outcome: .skipped, detail: "the token endpoint is not known or not reachable"))
        }

        if reachable.contains(apiName) {
            checks += await gatewayRefusals(extra: extra)
        } else {
            checks.append(.init(name: "\(apiName) without a token", outcome: .skipped, detail: "not reachable"))
        }
        checks.append(await account())
        return checks
    }

    /// The token endpoint's verdict on the client alone: a made-up code with the client's
    /// credentials. `invalid_grant` means the credentials passed; `invalid_client` that they
    /// did not, and then, for `basic`, whether `post` works (servers that do not URL-decode
    /// Basic credentials refuse secrets with `+`, `/` or `=`).
    func clientAuthentication(_ token: URL) async -> SelfTestCheck {
        let name = "client authentication"
        let auth: ClientAuthentication
        let secret: String?
        do {
            switch connection.clientAuth {
            case .none:
                auth = .none(clientID: connection.clientID)
                secret = nil
            case .basic, .post:
                let s = try await secrets.secret(for: connection)
                secret = s
                auth = connection.clientAuth == .basic ? .basic(clientID: connection.clientID, secret: s) : .post(clientID: connection.clientID, secret: s)
            }
        } catch {
            return .init(name: name, outcome: .failed, detail: "\(error)")
        }
        switch await probe(token, auth) {
        case .accepted(let words):
            return .init(name: name, outcome: .passed, detail: "client_auth = \(connection.clientAuth.rawValue) accepted (a made-up code drew \(words))")
        case .refused:
            if connection.clientAuth == .basic, let secret,
               case .accepted = await probe(token, .post(clientID: connection.clientID, secret: secret)) {
                return .init(name: name, outcome: .failed,
                             detail: "invalid_client with client_auth = basic, but accepted with client_auth = \"post\": set client_auth = \"post\" (the server does not URL-decode Basic credentials)")
            }
            return .init(name: name, outcome: .failed, detail: "invalid_client: \(OAuthError.clientAuthenticationAdvice)")
        case .unclear(let words):
            return .init(name: name, outcome: .warning, detail: "the token endpoint answered \(words) to a made-up code; cannot tell whether the client's credentials are right")
        }
    }

    enum Probe { case accepted(String), refused, unclear(String) }

    func probe(_ token: URL, _ auth: ClientAuthentication) async -> Probe {
        let request = TokenRequest.authorizationCode(code: Self.probeCode, redirectURI: URL(string: "http://127.0.0.1:9/callback")!,
                                                     verifier: RandomValue.urlSafe(bytes: 32))
        do {
            let response = try await http.send(request.httpRequest(endpoint: token, client: auth), tls: connection.tlsOptions)
            do {
                _ = try TokenResponse.parse(response, now: Date(), previous: nil)
                return .unclear("tokens")   // a server that redeems any code: report, never use
            } catch let error as OAuthError {
                if error.isClientAuthenticationFailure { return .refused }
                if error.code == .oauth, let code = error.oauthError, ["invalid_grant", "invalid_request"].contains(code), !error.isTransient {
                    return .accepted(code)
                }
                return .unclear(error.oauthError ?? "HTTP \(response.status)")
            }
        } catch {
            return .unclear("\(error)")
        }
    }

    /// The gateway's 401s, which the proxy's refresh-and-retry depends on. `extra`: the
    /// connection's static fields (`extra_headers_file`), read once by `run()`.
    func gatewayRefusals(extra: [(name: String, value: String)]) async -> [SelfTestCheck] {
        let url = connection.apiBaseURL.appendingPathComponent("rest/api/2/myself")
        var checks: [SelfTestCheck] = []
        for (label, headers) in [("without a token", [(name: String, value: String)]()),
                                 ("with an invalid token", [(name: "Authorization", value: "Bearer jira-auth-agent-self-test-invalid")])] {
            let name = "\(apiName) \(label)"
            do {
                let response = try await http.send(HTTPRequestSpec(method: "GET", url: url, headers: headers + extra, body: Data()), tls: connection.tlsOptions)
                let challenge = response.header("WWW-Authenticate") ?? ""
                switch response.status {
                case 401 where label == "without a token":
                    checks.append(.init(name: name, outcome: .passed, detail: "401\(challenge.isEmpty ? "" : " with WWW-Authenticate: \(Self.printable(challenge))")"))
                case 401 where challenge.lowercased().hasPrefix("bearer") && challenge.contains("invalid_token"):
                    checks.append(.init(name: name, outcome: .passed, detail: "401 Bearer error=\"invalid_token\": the proxy renews the token and retries on it"))
                case 401:
                    checks.append(.init(name: name, outcome: .warning,
                                        detail: "401 without WWW-Authenticate: Bearer error=\"invalid_token\": the proxy cannot tell a rejected token from other refusals and passes such 401s on instead of renewing and retrying (proactive renewal still runs)"))
                case 200..<300:
                    checks.append(.init(name: name, outcome: .failed, detail: "HTTP \(response.status) \(label): \(url.absoluteString) is not behind token checks; check jira_url/gateway_url"))
                case 400..<500 where label == "without a token":
                    checks.append(.init(name: name, outcome: .failed,
                                        detail: "HTTP \(response.status) before any token check: the gateway refuses this client itself; check extra_headers_file (an API key) and tls_client_certificate"))
                case 300..<400:
                    checks.append(.init(name: name, outcome: .failed, detail: "HTTP \(response.status) to \(response.header("Location").map(Self.printable) ?? "elsewhere"): a login page? API calls need the API gateway's URL (gateway_url)"))
                default:
                    checks.append(.init(name: name, outcome: .warning, detail: "HTTP \(response.status) instead of 401"))
                }
            } catch {
                checks.append(.init(name: name, outcome: .failed, detail: "\(error)"))
            }
        }
        return checks
    }

    /// `/rest/api/2/myself` through the running agent's proxy, when the agent holds a grant.
    func account() async -> SelfTestCheck {
        let name = "account through the proxy"
        guard let proxyBase else {
            return .init(name: name, outcome: .skipped, detail: "the agent is not running (systemctl --user start jira-auth-agent)")
        }
        guard signedIn else {
            return .init(name: name, outcome: .skipped, detail: "not signed in (jira-auth-agent login \(connection.id))")
        }
        guard let url = URL(string: "\(proxyBase)/jira/\(connection.id)/rest/api/2/myself") else {
            return .init(name: name, outcome: .failed, detail: "the proxy URL \(proxyBase) is not usable")
        }
        do {
            let response = try await http.send(HTTPRequestSpec(method: "GET", url: url, headers: [(name: "Accept", value: "application/json")], body: Data()))
            let object = JSONValue.object(from: response.body)
            if response.status == 200, let account = object?["name"]?.stringValue ?? object?["accountId"]?.stringValue {
                let display = object?["displayName"]?.stringValue.map { " (\(Self.printable($0)))" } ?? ""
                return .init(name: name, outcome: .passed, detail: "signed in as \(Self.printable(account))\(display)")
            }
            let message = object?["message"]?.stringValue.map(Self.printable) ?? ""
            return .init(name: name, outcome: .failed, detail: "HTTP \(response.status) for /rest/api/2/myself\(message.isEmpty ? "" : ": \(message)")")
        } catch {
            return .init(name: name, outcome: .failed, detail: "\(error)")
        }
    }

    /// Server-supplied text, one line, bounded.
    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : Character($0) }.prefix(160))
    }
}
