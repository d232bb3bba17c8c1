import FoundationEssentials
public import Logging
import Keyring
import OAuth

/// The token API on the Unix socket (DESIGN §6, `docs/token-api.md`): versioned paths,
/// JSON in and out, one error shape. Never answers with a refresh token or a client secret.
public struct TokenAPI: LocalAPIResponder {
    public static let version = "1"
    let registry: SessionRegistry
    let info: @Sendable () -> AgentInfo
    let logger: Logger
    /// Who got raw tokens (`GET /v1/audit`, `status`).
    public let releases: TokenReleaseLog
    /// The CLI's binaries: their requests are attributed to the program that ran them.
    let clientExecutables: Set<String>

    public init(registry: SessionRegistry, info: @escaping @Sendable () -> AgentInfo, logger: Logger,
                releases: TokenReleaseLog = TokenReleaseLog(),
                clientExecutables: Set<String> = TokenRequester.clientExecutables()) {
        self.registry = registry
        self.info = info
        self.logger = logger
        self.releases = releases
        self.clientExecutables = clientExecutables
    }

    public func respond(_ request: LocalAPIRequest) async -> LocalAPIResponse {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true).map { String($0).percentDecodedName }
        do {
            switch (request.method, parts.count, parts) {
            case ("GET", 2, ["v1", "status"]):
                return Self.json(try await status())
            case ("GET", 2, ["v1", "connections"]):
                return Self.json(ConnectionList(connections: try await status().connections))
            case ("GET", 2, ["v1", "audit"]):
                let connection = try request.queryValue("connection").map { try registry.session($0).connection.id }
                return Self.json(releases.audit(connection: connection))
            case ("POST", 4, _) where parts[0] == "v1" && parts[1] == "connections" && parts[3] == "token":
                return .json(try await token(parts[2], request: request))
            case ("POST", 4, _) where parts[0] == "v1" && parts[1] == "connections" && parts[3] == "authorize":
                return .json(try await authorize(parts[2], body: request.body))
            case ("POST", 4, _) where parts[0] == "v1" && parts[1] == "connections" && parts[3] == "reload":
                // A sign-in saved by another process (`login --no-browser`): read the keyring.
                let session = try registry.session(parts[2])
                await session.keyringMayHaveChanged()
                return Self.json(["connection": session.connection.id])
            case ("DELETE", 4, _) where parts[0] == "v1" && parts[1] == "connections" && parts[3] == "tokens":
                let report = try await registry.session(parts[2]).revoke()
                return .json(report)
            default:
                if parts.first == "v1", ["status", "connections", "audit"].contains(parts.dropFirst().first ?? "") {
                    return .error(status: 405, code: "method_not_allowed", message: "\(request.method) is not supported on \(request.path); see docs/token-api.md")
                }
                return .error(status: 404, code: "not_found", message: "No such endpoint: \(request.path). The token API is described in docs/token-api.md.")
            }
        } catch let error as AgentError {
            return Self.response(for: error)
        } catch {
            logger.error("token API failure", metadata: ["error": "\(error)"])
            return .error(status: 500, code: "internal_error", message: "The agent failed to answer; see its log (journalctl --user -u jira-auth-agent).")
        }
    }

    /// `POST /v1/connections/{id}/token` for a token held in memory: answered on the event
    /// loop, without a task or an actor hop. Everything else goes to `respond(_:)`.
    public func respondWithoutSuspending(_ request: LocalAPIRequest) -> LocalAPIResponse? {
        guard request.method == "POST", request.path.hasPrefix("/v1/connections/"), request.path.hasSuffix("/token") else { return nil }
        let name = request.path.dropFirst("/v1/connections/".count).dropLast("/token".count)
        guard !name.isEmpty, !name.contains("/"), let body = try? TokenRequestBody.decode(request.body),
              let connection = registry.catalog.resolve(String(name).percentDecodedName) else { return nil }
        let minValid = min(max(body.minValid ?? 30, 0), 3600)
        guard let cached = registry.cache.entry(connection.id, minValid: minValid) else { return nil }
        let requester = TokenRequester.lookUp(pid: request.peer.pid, clientExecutables: clientExecutables)
        if case .refuse(let reason) = release(connection, to: requester) {
            return Self.response(for: AgentError(.tokenNotReleased, reason))
        }
        // Written by hand: JSONEncoder is a third of this path's cost. Same bytes as
        // `json(TokenBody(...))` (sorted keys); `TokenAPITests` checks that.
        var json = "{\"access_token\":" + JSONString.quote(cached.accessToken)
        json += ",\"connection\":" + JSONString.quote(connection.id)
        if let expiresAt = cached.expiresAt.flatMap(EpochSeconds.of) { json += ",\"expires_at\":\(expiresAt)" }
        json += ",\"token_type\":\"Bearer\"}"
        return LocalAPIResponse(status: 200, headers: [(name: "Content-Type", value: "application/json")], body: Data(json.utf8))
    }

    func status() async throws -> StatusBody {
        var list: [SessionStatus] = []
        for session in registry.sessions { list.append(await session.status()) }
        let catalog = registry.catalog
        var agent = info()
        agent.keyringHealth = await registry.dependencies.store.health().description
        return StatusBody(agent: agent, connections: list, configProblems: catalog.problems.map(\.description),
                          tokenRecipients: releases.recipients())
    }

    func token(_ name: String, request: LocalAPIRequest) async throws -> TokenBody {
        let body = try TokenRequestBody.decode(request.body)
        let minValid = min(max(body.minValid ?? 30, 0), 3600)
        let session = try registry.session(name)
        // Decided before any token is fetched: a refused program starts no sign-in either.
        let requester = TokenRequester.lookUp(pid: request.peer.pid, clientExecutables: clientExecutables)
        if case .refuse(let reason) = TokenReleasePolicy.decide(connection: session.connection.id, allowed: session.connection.tokenExecutables, requester: requester) {
            record(session.connection.id, requester, .refused)
            throw AgentError(.tokenNotReleased, reason)
        }
        let tokens = try await session.accessToken(minValid: minValid, interactive: body.interactive ?? false)
        record(session.connection.id, requester, .released)
        return TokenBody(accessToken: tokens.accessToken, tokenType: "Bearer", expiresAt: tokens.expiresAt.flatMap(EpochSeconds.of), connection: session.connection.id)
    }

    /// The policy's decision for `connection`, recorded.
    private func release(_ connection: Connection, to requester: TokenRequester) -> TokenReleasePolicy.Decision {
        let decision = TokenReleasePolicy.decide(connection: connection.id, allowed: connection.tokenExecutables, requester: requester)
        record(connection.id, requester, decision == .release ? .released : .refused)
        return decision
    }

    private func record(_ connection: String, _ requester: TokenRequester, _ outcome: TokenRelease.Outcome) {
        let isFirst = releases.record(TokenRelease(time: Date(), connection: connection, requester: requester, outcome: outcome))
        if isFirst {
            logger.notice(outcome == .released ? "first raw token for this program" : "first raw token refused to this program",
                          metadata: ["connection": "\(connection)", "program": "\(requester.displayName)",
                                     "via": "\(requester.via ?? "-")"])
        }
    }

    func authorize(_ name: String, body: Data) async throws -> AuthorizeBody {
        let session = try registry.session(name)
        let logger = self.logger
        let switchAccount = (JSONValue.object(from: body)?["switch_account"]).map { $0 == .bool(true) } ?? false
        let tokens = try await session.authorize(mode: .browser, announce: { line in
            _ = line   // shown by `status` (authorization_prompt), not logged: it holds the one-time URL
            logger.notice("authorization started through the token API")
        }, allowAccountSwitch: switchAccount)
        return AuthorizeBody(connection: session.connection.id, account: tokens.account, expiresAt: tokens.expiresAt.flatMap(EpochSeconds.of))
    }

    /// JSON with sorted keys and ISO 8601 dates (`expires_at`, `next_refresh`, …).
    static func json(_ value: some Encodable) -> LocalAPIResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        guard let body = try? encoder.encode(value) else {
            return .error(status: 500, code: "internal_error", message: "the response could not be encoded")
        }
        return LocalAPIResponse(status: 200, headers: [(name: "Content-Type", value: "application/json")], body: body)
    }

    /// AgentError → HTTP status and the one error shape.
    static func response(for error: AgentError) -> LocalAPIResponse {
        let status: Int
        switch error.code {
        case .authorizationRequired: status = 401
        case .authorizationFailed, .tokenNotReleased: status = 403
        case .unknownConnection: status = 404
        case .badRequest: status = 400
        case .keyringLocked, .keyringUnavailable: status = 503
        case .transient, .protocolViolation, .revocationUncertain: status = 502
        case .configuration, .internalError, .alreadyRunning, .agentNotRunning: status = 500
        }
        return .error(status: status, code: error.code.rawValue, message: error.message)
    }
}

extension String {
    /// A path segment naming a connection, percent-decoded; as it is when it has no escape
    /// or a malformed one. (Foundation's `removingPercentEncoding` went through
    /// CoreFoundation and was 1.5 % of the token API's CPU.)
    var percentDecodedName: String { removingPercentEncodingASCII() ?? self }
}
