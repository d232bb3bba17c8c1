import Agent
import ArgumentParser
import Foundation

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
                let list: [[String: any Sendable]] = catalog.connections.map { c in
                    var entry: [String: any Sendable] = [
                        "id": c.id, "name": c.name, "jira_url": c.jiraURL.absoluteString, "api_url": c.apiBaseURL.absoluteString,
                        "origin": c.origin.isGlobal ? "global" : "user", "file": c.origin.file,
                        "default": c.id == catalog.defaultConnection?.id, "client_id": c.clientID, "scope": c.scope,
                    ]
                    if let issuer = c.issuer { entry["issuer"] = issuer }
                    return entry
                }
                let object: [String: any Sendable] = ["connections": list, "teams": catalog.teams, "problems": catalog.problems.map(\.description)]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                FileHandle.standardOutput.write(data + Data("\n".utf8))
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
