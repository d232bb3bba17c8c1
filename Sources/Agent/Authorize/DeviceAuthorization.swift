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
        announce(Self.prompt(connection: connection.name, grant: grant))
        var schedule = DevicePollSchedule(interval: grant.interval, deadline: grant.expiresAt)
        var unreachable: String?
        while true {
            let next = schedule.nextPoll(after: Date())
            guard let next else {
                let why = unreachable.map { " The authorization server could not be reached at the last attempt (\($0))." } ?? ""
                throw AgentError(.authorizationFailed, "The device code for '\(connection.id)' expired before it was confirmed; nothing was stored.\(why) Run `jira-auth-agent login \(connection.id) --no-browser` again.")
            }
            let wait = max(0, next.timeIntervalSinceNow)
            try await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
            let outcome: DevicePollOutcome
            do {
                outcome = try await client.pollDevice(deviceCode: grant.deviceCode)
            } catch let error as AgentError where error.code == .transient {
                // The server went away for a moment: the code stays valid until it expires, so
                // poll on, further apart (RFC 8628 §3.5).
                unreachable = error.message
                schedule.backOff()
                logger.info("device poll failed; polling on", metadata: ["connection": "\(connection.id)", "interval": "\(Int(schedule.interval))"])
                continue
            }
            switch outcome {
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
            case .failed(let error) where error.isTransient:
                unreachable = "\(error)"
                schedule.backOff()
                continue
            case .failed(let error):
                throw AgentError(.authorizationFailed, "The device authorization for '\(connection.id)' failed (\(error)).", underlying: error)
            }
        }
    }

    /// What the person is asked to do, with the warning that defeats device-code phishing:
    /// a code someone else sends you signs *their* program in as you.
    static func prompt(connection name: String, grant: DeviceAuthorizationResponse) -> String {
        let step = grant.verificationURIComplete.map { "open\n  \($0.absoluteString)\nand confirm the code \(grant.userCode)" }
            ?? "open\n  \(grant.verificationURI.absoluteString)\nand enter the code \(grant.userCode)"
        return "To authorize Jira access for '\(name)', \(step).\n"
            + "Enter it only if you started this sign-in yourself (jira-auth-agent login) just now; never enter a code that someone sent you."
    }
}
