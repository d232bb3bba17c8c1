import Agent
import ArgumentParser
import FoundationEssentials
import OAuth

struct Connections: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the configured connections; keep a client secret in the keyring.",
        subcommands: [List.self, SetSecret.self, DeleteSecret.self],
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
}
