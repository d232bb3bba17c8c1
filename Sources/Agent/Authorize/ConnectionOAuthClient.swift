public import FoundationEssentials
public import Logging
public import OAuth

/// The OAuth conversation of one connection with its authorization server: endpoints
/// (configured or discovered), client authentication, code exchange, refresh and
/// revocation. Wraps the pure `OAuth` module with the agent's HTTP client.
public actor ConnectionOAuthClient {
    public let connection: Connection
    let http: OutboundHTTPClient
    let secrets: ClientSecretSource
    let logger: Logger
    private var discovered: ProviderEndpoints?

    public init(connection: Connection, http: OutboundHTTPClient, secrets: ClientSecretSource, logger: Logger) {
        self.connection = connection
        self.http = http
        self.secrets = secrets
        self.logger = logger
    }

    /// The provider's endpoints: configured URLs win; with an `issuer`, discovery fills
    /// the rest and is used only if its `issuer` matches exactly (RFC 8414 §3.3).
    public func endpoints() async throws -> ProviderEndpoints {
        if let discovered { return discovered }
        var result: ProviderEndpoints
        if let issuer = connection.issuer {
            result = try await discover(issuer: issuer)
            if let u = connection.authorizationURL { result.authorization = u }
            if let u = connection.tokenURL { result.token = u }
            if let u = connection.revocationURL { result.revocation = u }
            if let u = connection.deviceAuthorizationURL { result.deviceAuthorization = u }
        } else if let authorization = connection.authorizationURL, let token = connection.tokenURL {
            result = ProviderEndpoints(authorization: authorization, token: token, revocation: connection.revocationURL,
                                       deviceAuthorization: connection.deviceAuthorizationURL, issuer: nil,
                                       authorizationResponseIssParameterSupported: false)
        } else {
            throw AgentError(.configuration, "Connection '\(connection.id)' has neither issuer nor authorization_url and token_url (\(connection.origin.file)).")
        }
        discovered = result
        return result
    }

    private func discover(issuer: String) async throws -> ProviderEndpoints {
        var lastError: (any Error)?
        var mismatch: OAuthError?
        for url in DiscoveryDocument.candidateURLs(issuer: issuer) {
            do {
                let response = try await http.send(HTTPRequestSpec(method: "GET", url: url, headers: [(name: "Accept", value: "application/json")], body: Data()), tls: connection.tlsOptions)
                if response.status == 404 { continue }
                return try DiscoveryDocument.parse(response, expectedIssuer: issuer)
            } catch let error as OAuthError where error.code == .issuerMismatch {
                mismatch = error   // a document that answered outranks a later location's HTTP error
            } catch {
                lastError = error
            }
        }
        if let mismatch {
            throw AgentError(.configuration, "Discovery for connection '\(connection.id)' failed: \(mismatch.detail ?? "the issuer does not match"). Set issuer in \(connection.origin.file) to the server's exact issuer (if that is the right server), or set authorization_url and token_url.", underlying: mismatch)
        }
        if let oauth = lastError as? OAuthError {
            throw AgentError(.configuration, "Discovery for connection '\(connection.id)' failed: \(oauth). Check issuer in \(connection.origin.file), or set authorization_url and token_url.", underlying: oauth)
        }
        if let agent = lastError as? AgentError { throw agent }
        throw AgentError(.configuration, "No discovery document found for issuer \(issuer) (connection '\(connection.id)'). Set authorization_url and token_url in \(connection.origin.file).")
    }

    /// How this client authenticates at the token endpoint.
    public func clientAuthentication() async throws -> ClientAuthentication {
        let id = connection.clientID
        switch connection.clientAuth {
        case .none:
            return .none(clientID: id)
        case .basic, .post:
            let secret = try await secrets.secret(for: connection)
            return connection.clientAuth == .basic ? .basic(clientID: id, secret: secret) : .post(clientID: id, secret: secret)
        }
    }

    /// Exchanges an authorization code (RFC 6749 §4.1.3); the code is sent once (S5).
    public func exchange(code: String, redirectURI: String, verifier: String, now: Date = Date()) async throws -> TokenSet {
        let request = TokenRequest.authorizationCode(code: code, redirectURI: URL(string: redirectURI)!, verifier: verifier)
        return try await tokenCall(request, previous: nil, now: now)
    }

    /// Refreshes (RFC 6749 §6). Keeps the refresh token when the response omits one.
    public func refresh(_ tokens: TokenSet, now: Date = Date()) async throws -> TokenSet {
        guard let refreshToken = tokens.refreshToken else {
            throw AgentError(.authorizationRequired, "Connection '\(connection.id)' has no refresh token; sign in again with `jira-auth-agent login \(connection.id)`.")
        }
        var result = try await tokenCall(.refresh(refreshToken: refreshToken, scope: nil), previous: tokens, now: now)
        result.account = result.account ?? tokens.account
        return result
    }

    /// Polls the token endpoint for a device code (RFC 8628 §3.4).
    func pollDevice(deviceCode: String, now: Date = Date()) async throws -> DevicePollOutcome {
        let endpoints = try await endpoints()
        let request = TokenRequest.deviceCode(deviceCode: deviceCode).httpRequest(endpoint: endpoints.token, client: try await clientAuthentication())
        let response = try await http.send(request, tls: connection.tlsOptions)
        return DevicePollOutcome.classify(response, now: now)
    }

    func send(_ request: HTTPRequestSpec) async throws -> HTTPResponseSpec {
        try await http.send(request, tls: connection.tlsOptions)
    }

    private func tokenCall(_ request: TokenRequest, previous: TokenSet?, now: Date) async throws -> TokenSet {
        let endpoints = try await endpoints()
        let spec = request.httpRequest(endpoint: endpoints.token, client: try await clientAuthentication())
        let response = try await http.send(spec, tls: connection.tlsOptions)
        do {
            return try TokenResponse.parse(response, now: now, previous: previous)
        } catch let error as OAuthError {
            logger.info("token endpoint refused", metadata: ["connection": "\(connection.id)", "status": "\(response.status)", "error": "\(error.oauthError ?? error.code.rawValue)"])
            if error.isTransient {
                throw AgentError(.transient, "The authorization server for '\(connection.id)' is unavailable right now (\(error)). The agent will retry.", underlying: error)
            }
            if error.isClientAuthenticationFailure {
                // The client, not the grant: the stored tokens are kept and a refresh is retried.
                throw AgentError(.configuration, "The authorization server refused the client authentication of '\(connection.id)' (invalid_client, client_auth = \(connection.clientAuth.rawValue)). \(OAuthError.clientAuthenticationAdvice) Stored tokens are kept.", underlying: error)
            }
            if error.requiresReauthorization {
                throw AgentError(.authorizationRequired, "The authorization server refused the grant for '\(connection.id)' (\(error)). Sign in again: jira-auth-agent login \(connection.id)", underlying: error)
            }
            throw AgentError(.protocolViolation, "The token endpoint of '\(connection.id)' answered badly: \(error)", underlying: error)
        }
    }
}
