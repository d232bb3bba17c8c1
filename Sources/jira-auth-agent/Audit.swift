import Agent
import ArgumentParser
import FoundationEssentials
import OAuth

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show which programs got raw access tokens from the agent (since it started).",
        discussion: """
            Lists each program (its executable) that asked the token API for a token, per \
            connection, with how many it got or was refused, then the most recent requests. \
            A request made with `jira-auth-agent token` counts for the program that ran it. \
            Requests through the proxy hand out no token and are not listed. Limit which \
            programs may get tokens with token_executables in connections.toml.
            """)

    @Argument(help: "Only this connection (id, team or alias).") var connection: String?
    @Option(help: "How many recent requests to show.") var last = 20
    @Flag(help: "Machine-readable output (the token API's GET /v1/audit).") var json = false
    @OptionGroup var agent: AgentOptions

    func run() async throws {
        guard last >= 0 else { throw ValidationError("--last must be 0 or more.") }
        var path = "/v1/audit"
        if let connection { path += "?connection=" + FormURLEncoding.escape(connection) }
        let data = try agent.client().json("GET", path)
        if json {
            Output.stdout(data + Data("\n".utf8))
            return
        }
        let body = try StatusFormatter.decoder.decode(AuditBody.self, from: data)
        print(AuditFormatter.text(body, last: last), terminator: "")
    }
}

enum AuditFormatter {
    static func text(_ body: AuditBody, last: Int) -> String {
        var out = "raw tokens handed out since \(body.since.formatted(.iso8601)) (the agent's start)\n"
        if body.recipients.isEmpty {
            return out + "none: no program asked the token API for a token\n"
        }
        out += "\nprograms:\n"
        out += table([["CONNECTION", "GOT", "REFUSED", "LAST", "PROGRAM"]] + body.recipients.map { r in
            [r.connection, "\(r.released)", "\(r.refused)", r.last.formatted(.iso8601), r.executable ?? "(unknown)"]
        })
        if last > 0 {
            out += "\nmost recent requests:\n"
            out += table([["TIME", "CONNECTION", "OUTCOME", "PID", "PROGRAM"]] + body.releases.prefix(last).map { r in
                let program = (r.requester.executable ?? "(unknown)") + (r.requester.via.map { " (via \($0) token)" } ?? "")
                return [r.time.formatted(.iso8601), r.connection, r.outcome.rawValue, r.requester.pid.map(String.init) ?? "-", program]
            })
        }
        return out
    }

    /// Columns padded to their widest cell; the last column is not padded.
    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.first?.count else { return "" }
        let widths = (0..<columns).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            "  " + row.enumerated().map { c, cell in
                c == columns - 1 ? cell : cell + String(repeating: " ", count: widths[c] - cell.count)
            }.joined(separator: "  ") + "\n"
        }.joined()
    }
}
