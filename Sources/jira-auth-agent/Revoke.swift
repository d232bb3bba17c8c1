import Agent
import ArgumentParser
import FoundationEssentials

struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Revoke a connection's tokens at the server (RFC 7009) and delete them from the keyring.")

    @Argument(help: "Connection id, team or `default`.") var connection: String = "default"
    @Flag(help: "Machine-readable output.") var json = false
    @OptionGroup var agent: AgentOptions

    func run() async throws {
        let report: RevocationReport
        do {
            let data = try agent.client(timeout: 60).json("DELETE", "/v1/connections/\(connection.percentEncodedPathSegment)/tokens")
            report = try JSONDecoder().decode(RevocationReport.self, from: data)
        } catch let error as AgentError where error.code == .agentNotRunning {
            try LocalAgent.refuseIfAnAgentRuns()
            let session = try LocalAgent.registry().session(connection)
            report = try await session.revoke()
            await session.shutdown()
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            Output.stdout(try encoder.encode(report) + Data("\n".utf8))
        } else {
            if !report.revoked.isEmpty { print("Revoked at the server: \(report.revoked.joined(separator: ", ")).") }
            if report.noEndpoint {
                print("The server has no revocation endpoint: the tokens stay valid until they expire.")
            } else if !report.uncertain.isEmpty {
                print("Could not confirm the revocation of \(report.uncertain.joined(separator: ", ")): it may still be valid until it expires. Retry later: jira-auth-agent revoke \(report.connection)")
            }
            if report.keyringPending {
                print("The keyring could not be changed yet (locked or unavailable): no token of this connection is served, and the agent updates the keyring as soon as it can. Unlock the login keyring.")
            } else if !report.uncertain.isEmpty && !report.noEndpoint {
                print("The tokens stay in the keyring, marked as revoked, until a revocation is confirmed; they are never used for requests.")
            } else {
                print(report.deletedFromKeyring ? "Deleted the tokens from the keyring." : "No tokens were stored in the keyring.")
            }
        }
        if !report.uncertain.isEmpty && !report.noEndpoint || report.keyringPending {
            throw ExitCode(ExitCodes.tempfail)
        }
    }
}
