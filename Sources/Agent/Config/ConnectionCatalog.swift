public import FoundationEssentials

/// Every configured connection: the admin's (global) catalog and the user's own, merged
/// by the rules of DESIGN §3, with the problems found on the way.
public struct ConnectionCatalog: Sendable {
    public private(set) var connections: [Connection] { didSet { revision = Revision() } }
    /// Team name → connection id (`[teams]` tables; the user's entries win).
    public private(set) var teams: [String: String] { didSet { revision = Revision() } }
    /// Stands for the connections and teams as they are: a new one whenever they change, so
    /// what is derived from them (the proxy's route of a name) can be kept until then.
    public private(set) var revision = Revision()

    public final class Revision: Sendable {
        init() {}
    }
    public private(set) var problems: [ConfigProblem]
    /// The files that were read, in order (missing files are not listed).
    public private(set) var files: [String]

    public init(connections: [Connection] = [], teams: [String: String] = [:], problems: [ConfigProblem] = [], files: [String] = []) {
        self.connections = connections
        self.teams = teams
        self.problems = problems
        self.files = files
    }

    /// The connection marked `default`, or the only one when there is just one.
    public var defaultConnection: Connection? {
        connections.first(where: \.isDefault) ?? (connections.count == 1 ? connections.first : nil)
    }

    /// Resolves a name to a connection: an id, `default`, a team named in `[teams]`, or
    /// `team:<name>` — which falls back to the default connection for a team without an
    /// entry (DESIGN §3). A bare unknown name is not guessed at: a typo must not send
    /// requests to another Jira.
    public func resolve(_ name: String?) -> Connection? {
        guard let name, !name.isEmpty, name != "default" else { return defaultConnection }
        if name.hasPrefix("team:") {
            let team = String(name.dropFirst("team:".count))
            guard let id = teams[team] else { return defaultConnection }
            return connections.first { $0.id == id }
        }
        if let c = connections.first(where: { $0.id == name }) { return c }
        if let id = teams[name] { return connections.first { $0.id == id } }
        return nil
    }

    /// The standard catalog locations: `$XDG_CONFIG_DIRS` (default `/etc/xdg`) for the
    /// admin's, `$XDG_CONFIG_HOME` (default `~/.config`) for the user's.
    public static func standardFiles(environment: [String: String] = ProcessInfo.processInfo.environment) -> (system: [String], user: String) {
        let dirs = (environment["XDG_CONFIG_DIRS"].flatMap { $0.isEmpty ? nil : $0 } ?? "/etc/xdg")
            .split(separator: ":").map(String.init)
        let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        let userDir = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.config"
        return (dirs.map { "\($0)/jira-auth-agent/connections.toml" }, "\(userDir)/jira-auth-agent/connections.toml")
    }

    /// Loads the standard catalogs. Never throws: problems are collected.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) -> ConnectionCatalog {
        let (system, user) = standardFiles(environment: environment)
        return load(systemFiles: system, userFile: user)
    }

    /// Loads the given catalogs: the first existing system file, then the user file.
    public static func load(systemFiles: [String], userFile: String?) -> ConnectionCatalog {
        var catalog = ConnectionCatalog()
        if let system = systemFiles.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            catalog.merge(CatalogFile.read(path: system, global: true))
        }
        if let userFile, FileManager.default.fileExists(atPath: userFile) {
            catalog.merge(CatalogFile.read(path: userFile, global: false))
        }
        catalog.checkDefaults()
        return catalog
    }

    mutating func merge(_ file: CatalogFile) {
        files.append(file.path)
        problems += file.problems
        for connection in file.connections {
            if let existing = connections.first(where: { $0.id == connection.id }) {
                let message = existing.origin.isGlobal && !connection.origin.isGlobal
                    ? "the id is already used by a global connection in \(existing.origin.file); a user connection may not reuse it (rename it)"
                    : "the id is defined twice; the first definition in \(existing.origin.file) is used"
                problems.append(ConfigProblem(file: file.path, connection: connection.id, key: "id", message: message))
                continue
            }
            connections.append(connection)
        }
        for (team, id) in file.teams { teams[team] = id }
    }

    /// At most one default: the admin's wins over the user's, the first over later ones.
    mutating func checkDefaults() {
        let defaults = connections.indices.filter { connections[$0].isDefault }
        let keep = defaults.first { connections[$0].origin.isGlobal } ?? defaults.first
        for index in defaults where index != keep {
            let c = connections[index]
            problems.append(ConfigProblem(file: c.origin.file, connection: c.id, key: "default",
                message: "more than one connection is marked default; '\(keep.map { connections[$0].id } ?? "")' stays the default"))
            connections[index].isDefault = false
        }
        for (team, id) in teams where !connections.contains(where: { $0.id == id }) {
            problems.append(ConfigProblem(file: files.last ?? "", key: "teams.\(team)",
                message: "team '\(team)' names connection '\(id)', which is not defined"))
        }
    }
}
