import FoundationEssentials
import Logging
import OAuth

/// What a revocation achieved, per token (SECURITY S12).
public struct RevocationReport: Sendable, Codable {
    public var connection: String
    /// Token kinds the server confirmed revoked (`refresh_token`, `access_token`).
    public var revoked: [String] = []
    /// Token kinds whose revocation could not be confirmed: they may still be valid.
    public var uncertain: [String] = []
    /// True when the server has no revocation endpoint.
    public var noEndpoint = false
    public var deletedFromKeyring = false
    /// The keyring could not be changed yet (locked, unavailable): the agent holds the
    /// barrier in memory and writes it as soon as it can.
    public var keyringPending = false

    public init(connection: String) { self.connection = connection }

    enum CodingKeys: String, CodingKey {
        case connection, revoked, uncertain, noEndpoint = "no_revocation_endpoint", deletedFromKeyring = "deleted_from_keyring", keyringPending = "keyring_pending"
    }
}

/// RFC 7009: the refresh token first (§2.1: revoking it also ends its access tokens at
/// most servers), then the access token. 200 is success; 503, other 5xx or a network
/// failure mean the token may still be valid.
struct Revoker {
    let client: ConnectionOAuthClient
    let logger: Logger

    func revoke(_ tokens: TokenSet) async -> RevocationReport {
        var report = RevocationReport(connection: client.connection.id)
        guard let endpoint = try? await client.endpoints().revocation else {
            report.noEndpoint = true
            report.uncertain = tokens.refreshToken == nil ? ["access_token"] : ["refresh_token", "access_token"]
            return report
        }
        guard let auth = try? await client.clientAuthentication() else {
            report.uncertain = ["refresh_token", "access_token"]
            return report
        }
        var targets: [(String, RevocationRequest.TokenTypeHint)] = []
        if let refresh = tokens.refreshToken { targets.append((refresh, .refreshToken)) }
        targets.append((tokens.accessToken, .accessToken))
        for (token, hint) in targets {
            let name = hint == .refreshToken ? "refresh_token" : "access_token"
            let request = RevocationRequest(token: token, tokenTypeHint: hint).httpRequest(endpoint: endpoint, client: auth)
            do {
                let response = try await client.send(request)
                switch RevocationResult.classify(response) {
                case .revoked: report.revoked.append(name)
                case .mayStillBeValid, .rejected: report.uncertain.append(name)
                }
            } catch {
                logger.info("revocation request failed", metadata: ["token": "\(name)", "error": "\(error)"])
                report.uncertain.append(name)
            }
        }
        return report
    }
}
