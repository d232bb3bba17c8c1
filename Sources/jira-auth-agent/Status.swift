import Agent
import ArgumentParser
import FoundationEssentials
import Keyring

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each connection's state, account, expiry, next refresh and last error.",
        discussion: """
            Exit status, for scripts: 0 when the connection named (else the default one) holds \
            a usable grant, 77 when it needs authorization (run `jira-auth-agent login`), 75 \
            when the keyring has not been read (locked or unavailable), 78 for an unknown \
            connection.
            """)

    @Argument(help: "Only this connection (id, team or alias).") var connection: String?
    @Flag(help: "Machine-readable output.") var json = false
    @OptionGroup var agent: AgentOptions

    func run() async throws {
        // Resolved in the catalogs the agent reads (the same files), so a team name works.
        let catalog = ConnectionCatalog.load()
        let target = connection == nil ? catalog.resolve(nil) : try resolve(connection, in: catalog)
        var body: StatusBody
        var running = true
        do {
            let data = try agent.client().json("GET", "/v1/status")
            body = try StatusFormatter.decoder.decode(StatusBody.self, from: data)
        } catch let error as AgentError where error.code == .agentNotRunning {
            running = false
            let registry = LocalAgent.registry()
            await registry.start()
            var list: [SessionStatus] = []
            for session in registry.sessions { list.append(await session.status()) }
            let health = await registry.dependencies.store.health().description
            body = StatusBody(agent: AgentInfo(version: JiraAuthAgent.version, pid: 0, keyring: "secret-service", keyringHealth: health, proxyURL: nil, socket: try agent.socketPath()),
                              connections: list, configProblems: registry.catalog.problems.map(\.description))
        }
        if let id = target?.id, connection != nil {
            body.connections = body.connections.filter { $0.connection == id }
            body.tokenRecipients = body.tokenRecipients?.filter { $0.connection == id }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            Output.stdout(try encoder.encode(body) + Data("\n".utf8))
        } else {
            print(StatusFormatter.text(body, running: running), terminator: "")
        }
        let status = StatusFormatter.exitStatus(body.connections.first { $0.connection == target?.id })
        if status != 0 { throw ExitCode(status) }
    }
}

enum StatusFormatter {
    /// 0 with a usable grant (or nothing to judge), 75 when the keyring has not been read
    /// (locked, unavailable, or not yet), 77 when a sign-in is needed.
    static func exitStatus(_ connection: SessionStatus?) -> Int32 {
        guard let connection else { return 0 }
        switch connection.state {
        case "authorized", "refreshing": return 0
        case "unknown": return ExitCodes.tempfail
        default: return ExitCodes.noperm
        }
    }

    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }

    static func text(_ body: StatusBody, running: Bool) -> String {
        var out = running
            ? "agent: running (pid \(body.agent.pid), keyring \(body.agent.keyring))\n"
            : "agent: not running (start it: systemctl --user start jira-auth-agent)\n"
        if let health = body.agent.keyringHealth { out += "keyring: \(health)\n" }
        if let proxy = body.agent.proxyURL { out += "proxy: \(proxy)\n" }
        if body.connections.isEmpty { out += "no connections configured\n" }
        for c in body.connections {
            out += "\n\(c.connection)\(c.isDefault ? " (default)" : "") — \(c.name) [\(c.origin)]\n"
            out += "  state:        \(c.state)\n"
            out += "  account:      \(c.account ?? "-")\n"
            out += "  jira:         \(c.jiraURL)\n"
            if c.apiURL != c.jiraURL { out += "  api gateway:  \(c.apiURL)\n" }
            if let proxy = body.agent.proxyURL { out += "  proxy url:    \(proxy)/jira/\(c.connection)\n" }
            if let e = c.expiresAt {
                let left = Int(min(max(e.timeIntervalSinceNow, -1e12), 1e12))
                out += "  expires:      \(e.formatted(.iso8601)) (\(left >= 0 ? "in \(left) s" : "expired"))\(c.expiryAssumed ? ", assumed: the server gives no expires_in" : "")\n"
            }
            if c.savePending { out += "  keyring:      renewed tokens not saved yet (the keyring is locked or unavailable); kept in memory, saved when it can be\n" }
            if c.revocationPending { out += "  revocation:   not finished; run it again: jira-auth-agent revoke \(c.connection)\n" }
            if c.refreshFailures > 0 {
                out += "  refresh:      \(c.refreshFailures) failure(s) in a row\(c.retryAt.map { "; next attempt \($0.formatted(.iso8601))" } ?? "")\n"
            }
            if let n = c.nextRefresh { out += "  next refresh: \(n.formatted(.iso8601))\n" }
            if let l = c.lastRefresh { out += "  last refresh: \(l.formatted(.iso8601))\n" }
            if let err = c.lastError { out += "  last error:   \(err)\n" }
            if c.insecureLoopbackHTTP { out += "  note:         uses plain http on loopback (development only)\n" }
            if let note = c.serverNote { out += "  server:       \(note)\n" }
            let recipients = (body.tokenRecipients ?? []).filter { $0.connection == c.connection }
            if !recipients.isEmpty {
                let refused = recipients.reduce(0) { $0 + $1.refused }
                out += "  raw tokens:   \(recipients.count) program(s), most recently \(recipients[0].executable ?? "(unknown)")\(refused > 0 ? "; \(refused) refused" : "") (jira-auth-agent audit)\n"
            }
        }
        for problem in body.configProblems { out += "\nconfig problem: \(problem)\n" }
        return out
    }
}
