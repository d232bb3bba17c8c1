import FoundationEssentials
public import Logging
public import OAuth

/// Runs the interactive authorization of one connection: authorization code + PKCE with
/// a loopback listener and the browser (RFC 8252), the device grant (RFC 8628) when there
/// is no browser, or a pasted redirect URL as the last resort (DESIGN §5).
public struct Authorizer: Sendable {
    /// How the user takes part.
    public enum Mode: Sendable, Equatable {
        /// Open the browser at the one-time start URL (the URL is also announced).
        case browser
        /// No browser here: device grant if offered, else paste-back.
        case noBrowser
    }

    /// Lines for the person at the terminal: URLs to open, user codes. Never secrets
    /// beyond the device `user_code`, which is meant to be typed by the user.
    public typealias Announce = @Sendable (String) -> Void
    /// Reads the pasted redirect URL (paste-back); nil when nobody can answer.
    public typealias ReadLine = @Sendable () async -> String?

    let launcher: BrowserLauncher
    let logger: Logger

    public init(launcher: BrowserLauncher, logger: Logger) {
        self.launcher = launcher
        self.logger = logger
    }

    public func authorize(client: ConnectionOAuthClient, mode: Mode, announce: @escaping Announce, readLine: ReadLine? = nil) async throws -> TokenSet {
        let connection = client.connection
        let endpoints = try await client.endpoints()
        // A missing client secret is a configuration error: say so before the user signs in.
        _ = try await client.clientAuthentication()
        switch mode {
        case .browser:
            return try await authorizeInBrowser(client: client, endpoints: endpoints, announce: announce)
        case .noBrowser:
            if endpoints.deviceAuthorization != nil {
                return try await DeviceAuthorization(client: client, endpoints: endpoints, logger: logger).run(announce: announce)
            }
            guard let readLine else {
                throw AgentError(.authorizationRequired, "Connection '\(connection.id)' needs a browser sign-in and no browser can be opened here. Run `jira-auth-agent login \(connection.id) --no-browser` in a terminal.")
            }
            return try await authorizeByPaste(client: client, endpoints: endpoints, announce: announce, readLine: readLine)
        }
    }

    /// The loopback flow: bind first (S2), then open the one-time start URL (S3).
    func authorizeInBrowser(client: ConnectionOAuthClient, endpoints: ProviderEndpoints, announce: @escaping Announce) async throws -> TokenSet {
        let connection = client.connection
        let ports = connection.redirectURI.flatMap(\.port).map { [$0] } ?? connection.redirectPorts
        let listener = try await LoopbackListener.bind(ports: ports)
        defer { listener.close() }
        let redirectURI = Self.redirectURI(for: connection, port: listener.port)
        let pkce = PKCE.generate()
        let state = RandomValue.urlSafe(bytes: 16)
        let request = AuthorizationRequest(clientID: connection.clientID, redirectURI: URL(string: redirectURI)!, scope: connection.scope.isEmpty ? nil : connection.scope, state: state, pkce: pkce,
                                           additionalParameters: connection.authorizationParameters)
        let startPath = "/start/" + RandomValue.urlSafe(bytes: 16)
        let port = listener.port
        listener.serve(LoopbackFlow(
            startPath: startPath, callbackPath: URL(string: redirectURI)?.path ?? "/callback",
            authorizationURL: request.url(endpoint: endpoints.authorization), expectedState: state,
            expectedIssuer: endpoints.issuer, issuerRequired: endpoints.authorizationResponseIssParameterSupported,
            allowedHosts: ["127.0.0.1:\(port)", "[::1]:\(port)", "localhost:\(port)"]))
        let startURL = URL(string: "http://127.0.0.1:\(port)\(startPath)")!
        announce("Opening the browser to authorize Jira access for '\(connection.name)'. If it does not open, visit:\n  \(startURL.absoluteString)")
        logger.info("authorization started", metadata: ["connection": "\(connection.id)", "port": "\(port)"])
        do { try launcher.open(startURL) } catch { announce("\(error)") }

        let outcome = try await withThrowingTaskGroup(of: LoopbackFlow.Outcome.self) { group in
            group.addTask { try await listener.outcome }
            group.addTask {
                try await Task.sleep(for: .seconds(connection.authorizationTimeout))
                throw Self.timedOut(connection, port: port)
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
        switch outcome {
        case .denied(let error):
            logger.info("authorization denied", metadata: ["connection": "\(connection.id)", "reason": "\(error.oauthError ?? error.code.rawValue)"])
            throw Self.denial(error, connection: connection)
        case .code(let code):
            var tokens = try await client.exchange(code: code, redirectURI: redirectURI, verifier: pkce.verifier)
            try checkNonce(tokens: &tokens, request: request, endpoints: endpoints, connection: connection)
            return tokens
        }
    }

    /// Paste-back: print the authorization URL, read the final redirect URL (state checked).
    func authorizeByPaste(client: ConnectionOAuthClient, endpoints: ProviderEndpoints, announce: @escaping Announce, readLine: ReadLine) async throws -> TokenSet {
        let connection = client.connection
        let port = connection.redirectURI?.port ?? connection.redirectPorts.first ?? 9  // nothing listens: the browser shows an error page whose URL is pasted
        let redirectURI = Self.redirectURI(for: connection, port: port)
        let pkce = PKCE.generate()
        let state = RandomValue.urlSafe(bytes: 16)
        let request = AuthorizationRequest(clientID: connection.clientID, redirectURI: URL(string: redirectURI)!, scope: connection.scope.isEmpty ? nil : connection.scope, state: state, pkce: pkce,
                                           additionalParameters: connection.authorizationParameters)
        announce("Open this URL in a browser, sign in, and paste the address of the page you land on (it starts with \(redirectURI)):\n  \(request.url(endpoint: endpoints.authorization).absoluteString)")
        while true {
            guard let line = await readLine() else {
                throw AgentError(.authorizationFailed, "No redirect URL was pasted; nothing was stored.")
            }
            let trimmed = line.trimmingWhitespace()
            guard trimmed.contains("://"), URLComponents(string: trimmed)?.percentEncodedQuery != nil else {
                announce("That is not a URL. Paste the whole address from the browser's address bar.")
                continue
            }
            // Scheme, host, port and path must be this login's redirect URI, and `state` its own.
            switch AuthorizationResponse.parse(pastedURL: trimmed, expectedState: state, expectedIssuer: endpoints.issuer,
                                               issuerRequired: endpoints.authorizationResponseIssParameterSupported,
                                               expectedRedirectURI: URL(string: redirectURI)) {
            case .code(let code):
                var tokens = try await client.exchange(code: code, redirectURI: redirectURI, verifier: pkce.verifier)
                try checkNonce(tokens: &tokens, request: request, endpoints: endpoints, connection: connection)
                return tokens
            case .denied(let error):
                throw Self.denial(error, connection: connection)
            case .ignore:
                announce("That address does not belong to this sign-in (it must start with \(redirectURI) and carry this sign-in's state). Paste the address from the sign-in you just did.")
            }
        }
    }

    func checkNonce(tokens: inout TokenSet, request: AuthorizationRequest, endpoints: ProviderEndpoints, connection: Connection) throws {
        // Without a known issuer (no discovery) the ID token's `iss` cannot be checked;
        // the token itself came straight from the token endpoint over TLS.
        guard let nonce = request.nonce, let idToken = tokens.idToken, let issuer = endpoints.issuer else { return }
        do {
            try IDToken.validateNonce(idToken: idToken, expected: nonce, issuer: issuer, clientID: connection.clientID, now: Date())
        } catch let error as OAuthError {
            throw AgentError(.protocolViolation, "The ID token for '\(connection.id)' failed its checks (\(error)); nothing was stored.", underlying: error)
        }
    }

    /// The error for a response that carried the right `state` but no usable code, naming
    /// the real reason: a refusal (`access_denied` or another RFC 6749 §4.1.2.1 error), an
    /// `iss` that is not the configured issuer (RFC 9207), a response without a code.
    static func denial(_ error: OAuthError, connection: Connection) -> AgentError {
        switch error.code {
        case .accessDenied:
            return AgentError(.authorizationFailed, "Access for '\(connection.id)' was not granted (\(error.oauthError ?? "access_denied")). Nothing was stored.", underlying: error)
        default:
            return AgentError(error.isTransient ? .transient : .authorizationFailed,
                              "The sign-in for '\(connection.id)' failed; nothing was stored. \(error)", underlying: error)
        }
    }

    /// A sign-in that never came back. With a port the kernel picked, the likeliest cause
    /// besides a closed tab: a server that accepts only exact, registered redirect URIs
    /// refused this one on its own page, so the browser never returned.
    static func timedOut(_ connection: Connection, port: Int) -> AgentError {
        var message = "No sign-in for '\(connection.id)' within \(Int(connection.authorizationTimeout)) s; nothing was stored. Run `jira-auth-agent login \(connection.id)` to try again."
        if connection.redirectURI == nil, connection.redirectPorts.isEmpty {
            message += " If the server's page said the redirect URI (http://127.0.0.1:\(port)/callback) is not allowed, it wants an exact one: register e.g. http://127.0.0.1:8400/callback for the client and set redirect_ports = [8400] in \(connection.origin.file)."
        }
        return AgentError(.authorizationFailed, message)
    }

    /// `http://127.0.0.1:<port>/callback` unless the connection registered an exact URI.
    static func redirectURI(for connection: Connection, port: Int) -> String {
        if let exact = connection.redirectURI { return exact.absoluteString }
        return "http://127.0.0.1:\(port)/callback"
    }
}
