import FoundationEssentials

/// What the agent says about itself in `GET /v1/status`.
public struct AgentInfo: Sendable, Codable {
    public var version: String
    public var pid: Int32
    public var keyring: String
    /// `ok`, or what is wrong with the Secret Service (locked, unavailable, timed out) and
    /// what to do; filled in when the status is asked for.
    public var keyringHealth: String?
    public var proxyURL: String?
    public var socket: String

    public init(version: String, pid: Int32, keyring: String, keyringHealth: String? = nil, proxyURL: String?, socket: String) {
        self.version = version
        self.pid = pid
        self.keyring = keyring
        self.keyringHealth = keyringHealth
        self.proxyURL = proxyURL
        self.socket = socket
    }

    enum CodingKeys: String, CodingKey { case version, pid, keyring, keyringHealth = "keyring_health", proxyURL = "proxy_url", socket }
}

/// `GET /v1/status`.
public struct StatusBody: Sendable, Codable {
    public var agent: AgentInfo
    public var connections: [SessionStatus]
    public var configProblems: [String]
    /// The programs that got (or were refused) raw tokens since the agent started, most
    /// recent first; `nil` when no agent runs.
    public var tokenRecipients: [TokenRecipient]?
    enum CodingKeys: String, CodingKey { case agent, connections, configProblems = "config_problems", tokenRecipients = "token_recipients" }

    public init(agent: AgentInfo, connections: [SessionStatus], configProblems: [String], tokenRecipients: [TokenRecipient]? = nil) {
        self.agent = agent
        self.connections = connections
        self.configProblems = configProblems
        self.tokenRecipients = tokenRecipients
    }
}

/// `GET /v1/connections`.
public struct ConnectionList: Sendable, Codable {
    public var connections: [SessionStatus]
}

/// `POST /v1/connections/{id}/token` request: `{"min_valid": seconds, "interactive": bool}`.
struct TokenRequestBody: Decodable {
    var minValid: Double?
    var interactive: Bool?
    enum CodingKeys: String, CodingKey { case minValid = "min_valid", interactive }

    static func decode(_ data: Data) throws -> TokenRequestBody {
        if data.isEmpty || data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return TokenRequestBody()
        }
        do {
            let body = try JSONDecoder().decode(TokenRequestBody.self, from: data)
            if let m = body.minValid, !m.isFinite { throw AgentError(.badRequest, "min_valid must be a finite number of seconds.") }
            return body
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError(.badRequest, "The body must be JSON like {\"min_valid\": 60, \"interactive\": false}.")
        }
    }
}

/// `POST /v1/connections/{id}/token` answer.
public struct TokenBody: Sendable, Codable {
    public var accessToken: String
    public var tokenType: String
    public var expiresAt: Int64?
    public var connection: String
    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token", tokenType = "token_type", expiresAt = "expires_at", connection
    }
}

/// `POST /v1/connections/{id}/authorize` answer.
public struct AuthorizeBody: Sendable, Codable {
    public var connection: String
    public var account: String?
    public var expiresAt: Int64?
    enum CodingKeys: String, CodingKey { case connection, account, expiresAt = "expires_at" }
}
