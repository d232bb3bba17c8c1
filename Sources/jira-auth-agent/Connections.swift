import Agent
import ArgumentParser
import FoundationEssentials
import Keyring
import Logging
import NIOCore
import OAuth

struct Connections: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and test the configured connections; keep a client secret in the keyring.",
        subcommands: [List.self, Test.self, SetSecret.self, DeleteSecret.self],
        defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show every connection, where it comes from, and which is the default.")
        @Flag(help: "Machine-readable output.") var json = false

        func run() throws {
            let catalog = ConnectionCatalog.load()
            if json {
                let list: [JSONValue] = catalog.connections.map { c in
                    var entry: [String: JSONValue] = [
                        "id": .string(c.id), "name": .string(c.name), "jira_url": .string(c.jiraURL.absoluteString),
                        "api_url": .string(c.apiBaseURL.absoluteString), "origin": .string(c.origin.isGlobal ? "global" : "user"),
                        "file": .string(c.origin.file), "default": .bool(c.id == catalog.defaultConnection?.id),
                        "client_id": .string(c.clientID), "scope": .string(c.scope),
                    ]
                    if let issuer = c.issuer { entry["issuer"] = .string(issuer) }
                    return .object(entry)
                }
                let object: [String: JSONValue] = [
                    "connections": .array(list), "teams": .object(catalog.teams.mapValues { .string($0) }),
                    "problems": .array(catalog.problems.map { .string($0.description) }),
                ]
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                let data = try encoder.encode(object)
                Output.stdout(data + Data("\n".utf8))
                return
            }
            if catalog.connections.isEmpty { print("No connections configured.") }
            for c in catalog.connections {
                let mark = c.id == catalog.defaultConnection?.id ? " (default)" : ""
                print("\(c.id)\(mark) — \(c.name)")
                print("  jira:   \(c.jiraURL.absoluteString)")
                if c.gatewayURL != nil { print("  api:    \(c.apiBaseURL.absoluteString)") }
                print("  from:   \(c.origin.isGlobal ? "global" : "user") (\(c.origin.file))")
                if let warning = ClientSecretSource.permissionWarning(for: c), !c.origin.isGlobal { print("  warning: \(warning)") }
            }
            if !catalog.teams.isEmpty {
                print("teams:")
                for (team, id) in catalog.teams.sorted(by: { $0.key < $1.key }) { print("  \(team) → \(id)") }
            }
            for problem in catalog.problems { print("problem: \(problem)") }
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that a connection works, one line per check (the admin's \"Connect\" step).",
            discussion: """
                Checks the catalog entry, discovery and its issuer, that every endpoint answers \
                over verified TLS, that the token endpoint accepts the client's credentials \
                (with a made-up code, no user needed), how the API gateway refuses requests \
                without a valid token, and, when the agent runs and holds a grant, the account \
                through the proxy. Exit status 1 when a check failed (✗).
                """)

        @Argument(help: "Connection id, team or `default`; without one, every connection.") var connection: String?
        @Option(help: ArgumentHelp("Test the connections of this catalog file instead of the installed ones (a candidate before rollout).", valueName: "file"))
        var config: String?
        @OptionGroup var agent: AgentOptions

        func run() async throws {
            let catalog = config.map { ConnectionCatalog.load(systemFiles: [$0], userFile: nil) } ?? ConnectionCatalog.load()
            if let config, !FileManager.default.isReadableFile(atPath: config) {
                throw AgentError(.configuration, "Cannot read \(config).")
            }
            var selected: [Connection]
            if let connection {
                if let c = catalog.resolve(connection) { selected = [c] } else {
                    let problems = catalog.problems.filter { $0.connection == connection }
                    guard !problems.isEmpty else { _ = try resolve(connection, in: catalog); return }
                    print("\(connection)\n  ✗ catalog entry: \(problems.map(\.description).joined(separator: "; "))")
                    throw ExitCode(1)
                }
            } else {
                selected = catalog.connections
                if selected.isEmpty && catalog.problems.isEmpty {
                    throw AgentError(.unknownConnection, "No connections are configured\(config.map { " in \($0)" } ?? "").")
                }
            }
            // The running agent, for the last check (through its proxy; no raw token here).
            var proxyBase: String?
            var states: [String: String] = [:]
            if let data = try? agent.client(timeout: 5).json("GET", "/v1/status"),
               let status = try? StatusFormatter.decoder.decode(StatusBody.self, from: data) {
                proxyBase = status.agent.proxyURL
                for c in status.connections { states[c.connection] = c.state }
            }
            var logger = Logger(label: "jira-auth-agent")
            logger.logLevel = .critical
            let http = OutboundHTTPClient(timeout: .seconds(10))
            let secrets = ClientSecretSource(store: SecretServiceClientSecretStore())
            var failed = false
            for problem in catalog.problems where problem.connection == nil || !selected.contains(where: { $0.id == problem.connection }) {
                if connection == nil { print("✗ \(problem)"); failed = true }
            }
            for c in selected {
                let test = ConnectionSelfTest(connection: c, problems: catalog.problems.filter { $0.connection == c.id },
                                              http: http, secrets: secrets, logger: logger, proxyBase: proxyBase,
                                              signedIn: ["authorized", "refreshing"].contains(states[c.id] ?? ""))
                print("\(c.id) — \(c.name)")
                for check in await test.run() {
                    let mark = switch check.outcome { case .passed: "✓"; case .failed: "✗"; case .warning: "!"; case .skipped: "–" }
                    print("  \(mark) \(check.name): \(check.detail)")
                    if check.outcome == .failed { failed = true }
                }
            }
            if failed { throw ExitCode(1) }
        }
    }
}
