public import FoundationEssentials

/// One Jira connection as an admin or a user configured it (DESIGN §3), validated.
///
/// `jiraURL` is what people browse (it may be internal); `apiBaseURL` is where API calls
/// go: the gateway when one is set, else Jira itself.
public struct Connection: Sendable, Hashable {
    /// Where a connection was defined.
    public enum Origin: Sendable, Hashable {
        /// The admin's catalog (`/etc/xdg/...`): global for every team.
        case global(file: String)
        /// The user's own catalog (`$XDG_CONFIG_HOME/...`).
        case user(file: String)

        public var file: String {
            switch self { case .global(let f), .user(let f): return f }
        }
        public var isGlobal: Bool { if case .global = self { return true } else { return false } }
    }

    /// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
    public enum ClientAuthMethod: String, Sendable, Hashable, CaseIterable {
        case basic, post, none
    }

    public var id: String
    public var name: String
    public var jiraURL: URL
    public var gatewayURL: URL?
    public var issuer: String?
    public var authorizationURL: URL?
    public var tokenURL: URL?
    public var revocationURL: URL?
    public var deviceAuthorizationURL: URL?
    public var clientID: String
    /// A file holding the client secret (mode 0600 recommended); else the keyring.
    public var clientSecretFile: String?
    public var scope: String
    public var isDefault: Bool
    public var clientAuth: ClientAuthMethod
    /// Ports tried in order for the loopback redirect, for servers that need an exact URI.
    public var redirectPorts: [Int]
    /// An exact registered redirect URI (e.g. `http://localhost:8400/callback`).
    public var redirectURI: URL?
    /// A PEM bundle of CAs trusted for this connection's https endpoints (internal CAs).
    public var caBundle: String?
    /// A TLS client certificate (PEM) and its key (PEM, mode 0600) for gateways and
    /// authorization servers that want mutual TLS.
    public var tlsClientCertificate: String?
    public var tlsClientKey: String?
    /// A 0600 file of `Name: value` lines the proxy adds to every request to the gateway
    /// (an API key); read when the connection's upstream is set up, never logged.
    public var extraHeadersFile: String?
    /// How a connection's TLS connections are made.
    public var tlsOptions: TLSOptions {
        TLSOptions(caBundle: caBundle, clientCertificate: tlsClientCertificate, clientKey: tlsClientKey)
    }
    /// How long a browser authorization may take before it is abandoned.
    public var authorizationTimeout: TimeInterval
    /// The programs (absolute executable paths) that may receive raw access tokens from the
    /// token API; `nil`: every program of the user. The proxy is not affected.
    public var tokenExecutables: [String]?
    /// Extra parameters of the authorization request (`authorization_params`), e.g.
    /// `prompt`, `login_hint`; never the protocol's own.
    public var authorizationParameters: [String: String]
    public var origin: Origin

    /// The servers a token set of this connection is bound to: its authorization server
    /// (issuer, else token URL) and where the token is sent. Stored with the tokens.
    public var tokenBinding: String {
        "\(issuer ?? tokenURL?.absoluteString ?? "") \(apiBaseURL.absoluteString)"
    }

    /// Where API calls go: the gateway when set, else Jira.
    public var apiBaseURL: URL { gatewayURL ?? jiraURL }

    public init(
        id: String, name: String? = nil, jiraURL: URL, gatewayURL: URL? = nil, issuer: String? = nil,
        authorizationURL: URL? = nil, tokenURL: URL? = nil, revocationURL: URL? = nil,
        deviceAuthorizationURL: URL? = nil, clientID: String, clientSecretFile: String? = nil,
        scope: String = "", isDefault: Bool = false, clientAuth: ClientAuthMethod = .basic,
        redirectPorts: [Int] = [], redirectURI: URL? = nil, caBundle: String? = nil,
        authorizationTimeout: TimeInterval = 300, tokenExecutables: [String]? = nil,
        authorizationParameters: [String: String] = [:], tlsClientCertificate: String? = nil, tlsClientKey: String? = nil,
        extraHeadersFile: String? = nil, origin: Origin = .user(file: "<memory>")
    ) {
        self.id = id
        self.name = name ?? id
        self.jiraURL = jiraURL
        self.gatewayURL = gatewayURL
        self.issuer = issuer
        self.authorizationURL = authorizationURL
        self.tokenURL = tokenURL
        self.revocationURL = revocationURL
        self.deviceAuthorizationURL = deviceAuthorizationURL
        self.clientID = clientID
        self.clientSecretFile = clientSecretFile
        self.scope = scope
        self.isDefault = isDefault
        self.clientAuth = clientAuth
        self.redirectPorts = redirectPorts
        self.redirectURI = redirectURI
        self.caBundle = caBundle
        self.authorizationTimeout = authorizationTimeout
        self.tokenExecutables = tokenExecutables
        self.authorizationParameters = authorizationParameters
        self.tlsClientCertificate = tlsClientCertificate
        self.tlsClientKey = tlsClientKey
        self.extraHeadersFile = extraHeadersFile
        self.origin = origin
    }

    /// Plain-http endpoints other than loopback are refused at load time (SECURITY S13);
    /// loopback http is allowed for development and shown in `status`.
    public var usesInsecureLoopbackHTTP: Bool {
        [jiraURL, gatewayURL, authorizationURL, tokenURL].compactMap { $0 }.contains { $0.scheme == "http" }
    }
}
