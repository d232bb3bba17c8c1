import FoundationEssentials
import Logging
import OAuth

/// The device authorization grant (RFC 8628) for sessions without a browser: show the
/// user code and the verification URL, then poll at the server's `interval`, slowing
/// down by 5 s on `slow_down` (§3.5), until approval, denial or expiry.
struct DeviceAuthorization {
    let client: ConnectionOAuthClient
    let endpoints: ProviderEndpoints
    let logger: Logger

    func run(announce: @escaping Authorizer.Announce) async throws -> TokenSet {
        let connection = client.connection
        guard let endpoint = endpoints.deviceAuthorization else {
            throw AgentError(.configuration, "Connection '\(connection.id)' has no device_authorization_url.")
        }
        let request = DeviceAuthorizationRequest(scope: connection.scope)
            .httpRequest(endpoint: endpoint, client: try await client.clientAuthentication())
        let response = try await client.send(request)
        let grant: DeviceAuthorizationResponse
        do {
            grant = try DeviceAuthorizationResponse.parse(response, now: Date())
        } catch let error as OAuthError {
            throw AgentError(.authorizationFailed, "The device authorization for '\(connection.id)' was refused (\(error)).", underlying: error)
        }
        if let complete = grant.verificationURIComplete {
            announce("To authorize Jira access for '\(connection.name)', open\n  \(complete.absoluteString)\nand confirm the code \(grant.userCode).")
        } else {
            announce("To authorize Jira access for '\(connection.name)', open\n  \(grant.verificationURI.absoluteString)\nand enter the code \(grant.userCode).")
        }
        var schedule = DevicePollSchedule(interval: grant.interval, deadline: grant.expiresAt)
        while true {
            let next = schedule.nextPoll(after: Date())
            guard let next else {
                throw AgentError(.authorizationFailed, "The device code for '\(connection.id)' expired before it was confirmed; nothing was stored. Run `jira-auth-agent login \(connection.id) --no-browser` again.")
            }
            let wait = max(0, next.timeIntervalSinceNow)
            try await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
            switch try await client.pollDevice(deviceCode: grant.deviceCode) {
            case .pending:
                continue
            case .slowDown:
                schedule.slowDown()
            case .denied:
                throw AgentError(.authorizationFailed, "Access for '\(connection.id)' was denied on the device page; nothing was stored.")
            case .expired:
                throw AgentError(.authorizationFailed, "The device code for '\(connection.id)' expired; nothing was stored. Run the login again.")
            case .tokens(let tokens):
                logger.info("device authorization completed", metadata: ["connection": "\(connection.id)"])
                return tokens
            case .failed(let error):
                throw AgentError(error.isTransient ? .transient : .authorizationFailed, "The device authorization for '\(connection.id)' failed (\(error)).", underlying: error)
            }
        }
    }
}
