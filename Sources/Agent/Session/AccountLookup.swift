import FoundationEssentials
import Logging
import OAuth

/// Learns the Jira account a fresh token belongs to: `GET /rest/api/2/myself` through the
/// connection's API base (the gateway when set). Best effort: `nil` when it fails.
struct AccountLookup {
    let client: ConnectionOAuthClient
    let logger: Logger

    func account(with tokens: TokenSet) async -> String? {
        let base = client.connection.apiBaseURL
        let url = base.appendingPathComponent("rest/api/2/myself")
        do {
            // The gateway wants its static fields (an API key) on this call too.
            let request = HTTPRequestSpec(method: "GET", url: url, headers: [
                (name: "Authorization", value: "Bearer \(tokens.accessToken)"),
                (name: "Accept", value: "application/json"),
            ] + (try ExtraHeaders.fields(for: client.connection)), body: Data())
            let response = try await client.send(request)
            guard response.status == 200,
                  let object = JSONValue.object(from: response.body) else {
                logger.info("account lookup failed", metadata: ["status": "\(response.status)"])
                return nil
            }
            let raw = object["name"]?.stringValue ?? object["key"]?.stringValue ?? object["emailAddress"]?.stringValue
            // From the server: printable characters only, bounded (it reaches logs and terminals).
            return raw.map { String(String.UnicodeScalarView($0.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value) }).prefix(200)) }
                .flatMap { $0.isEmpty ? nil : $0 }
        } catch {
            logger.info("account lookup failed", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
