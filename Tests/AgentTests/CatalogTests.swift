import Foundation
import Testing
@testable import Agent

/// The admin's and the user's catalog files, written to a fresh directory per test.
private struct CatalogFixture {
    let directory: URL
    var system: String { directory.appendingPathComponent("system.toml").path }
    var user: String { directory.appendingPathComponent("user.toml").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func load(system systemText: String? = nil, user userText: String? = nil) throws -> ConnectionCatalog {
        if let systemText { try systemText.write(toFile: system, atomically: true, encoding: .utf8) }
        if let userText { try userText.write(toFile: user, atomically: true, encoding: .utf8) }
        defer { try? FileManager.default.removeItem(at: directory) }
        return ConnectionCatalog.load(systemFiles: [directory.appendingPathComponent("absent.toml").path, system], userFile: user)
    }
}

/// One `[[connection]]` table; `extra` lines are appended as written.
private func entry(_ id: String, jira: String = "https://jira.example.com", _ extra: String...) -> String {
    """
    [[connection]]
    id = "\(id)"
    jira_url = "\(jira)"
    authorization_url = "https://sso.example.com/authorize"
    token_url = "https://sso.example.com/token"
    client_id = "desktop"
    \(extra.joined(separator: "\n"))

    """
}

@Suite struct CatalogTests {
    @Test func systemAndUserFilesMerge() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(
            system: """
            [[connection]]
            id = "acme"
            name = "ACME Jira"
            jira_url = "https://jira.acme.internal"
            gateway_url = "https://api.acme.example/jira"
            issuer = "https://sso.acme.example/realms/acme"
            client_id = "jira-desktop"
            scope = "openid offline_access"
            client_auth = "none"
            default = true
            authorization_timeout = 120
            """,
            user: entry("mine", jira: "http://127.0.0.1:8080", #"redirect_uri = "http://localhost:8400/callback""#))
        #expect(catalog.problems == [])
        #expect(catalog.files == [fixture.system, fixture.user])
        #expect(catalog.connections.map(\.id) == ["acme", "mine"])
        let acme = try #require(catalog.connections.first)
        #expect(acme.origin == .global(file: fixture.system))
        #expect(acme.name == "ACME Jira")
        #expect(acme.apiBaseURL.absoluteString == "https://api.acme.example/jira")
        #expect(acme.clientAuth == .none)
        #expect(acme.authorizationTimeout == 120)
        #expect(acme.isDefault)
        let mine = try #require(catalog.connections.last)
        #expect(mine.origin == .user(file: fixture.user))
        #expect(mine.name == "mine")
        #expect(mine.usesInsecureLoopbackHTTP)
        #expect(mine.redirectURI?.absoluteString == "http://localhost:8400/callback")
    }

    @Test func userConnectionMayNotReuseAGlobalID() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(system: entry("acme"), user: entry("acme", jira: "https://evil.example.com"))
        #expect(catalog.connections.count == 1)
        #expect(catalog.connections.first?.jiraURL.absoluteString == "https://jira.example.com")
        #expect(catalog.connections.first?.origin.isGlobal == true)
        let problem = try #require(catalog.problems.first)
        #expect(catalog.problems.count == 1)
        #expect(problem.file == fixture.user)
        #expect(problem.connection == "acme")
        #expect(problem.key == "id")
        #expect(problem.message.contains("global"))
        #expect(problem.description.contains(fixture.user) && problem.description.contains("'acme'") && problem.description.contains("'id'"))
    }

    @Test func unknownKeyIsReportedAndTheConnectionStillLoads() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(user: entry("acme", #"revocaton_url = "https://sso.example.com/revoke""#))
        #expect(catalog.problems.map(\.key) == ["revocaton_url"])
        #expect(catalog.problems.first?.connection == "acme")
        #expect(catalog.problems.first?.file == fixture.user)
        #expect(catalog.connections.map(\.id) == ["acme"])
    }

    @Test func unknownTopLevelKeyIsReported() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(user: "colour = \"blue\"\n" + entry("acme"))
        #expect(catalog.problems.map(\.key) == ["colour"])
        #expect(catalog.connections.map(\.id) == ["acme"])
    }

    @Test func missingJiraURLRefusesTheConnection() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(user: """
            [[connection]]
            id = "acme"
            issuer = "https://sso.example.com"
            client_id = "desktop"
            """)
        #expect(catalog.connections.isEmpty)
        let problem = try #require(catalog.problems.first)
        #expect(catalog.problems.count == 1)
        #expect(problem.connection == "acme")
        #expect(problem.key == "jira_url")
        #expect(problem.message.contains("required"))
    }

    @Test(arguments: ["jira_url", "token_url", "gateway_url", "authorization_url", "revocation_url"])
    func plainHTTPToANonLoopbackHostIsRefused(key: String) throws {
        let fixture = try CatalogFixture()
        var text = entry("acme")
        let line = "\(key) = \"http://jira.example.com/x\""
        if let range = text.range(of: "\(key) = \"[^\"]*\"", options: .regularExpression) {
            text.replaceSubrange(range, with: line)
        } else {
            text += line + "\n"
        }
        let catalog = try fixture.load(user: text)
        #expect(catalog.connections.isEmpty)
        #expect(catalog.problems.first?.key == key)
        #expect(catalog.problems.first?.message.contains("must use https") == true)
    }

    @Test(arguments: ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"])
    func plainHTTPToLoopbackIsAllowed(url: String) throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(user: entry("dev", jira: url))
        #expect(catalog.problems == [])
        #expect(catalog.connections.first?.usesInsecureLoopbackHTTP == true)
    }

    @Test func inlineClientSecretIsRefusedWithTheSetSecretHint() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(user: entry("acme", #"client_secret = "hunter2""#))
        #expect(catalog.connections.isEmpty)
        let problem = try #require(catalog.problems.first)
        #expect(catalog.problems.count == 1)
        #expect(problem.key == "client_secret")
        #expect(problem.connection == "acme")
        #expect(problem.message.contains("jira-auth-agent connections set-secret acme"))
        #expect(!problem.description.contains("hunter2"))
    }

    @Test func redirectPortsAsListAndRange() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(user: entry("list", "redirect_ports = [8400, 8401]")
            + entry("range", #"redirect_ports = "8400-8403""#)
            + entry("spaced", #"redirect_ports = "9000 - 9001""#))
        #expect(catalog.problems == [])
        #expect(catalog.connections.map(\.redirectPorts) == [[8400, 8401], [8400, 8401, 8402, 8403], [9000, 9001]])
    }

    @Test func tokenExecutablesAreAnOptionalListOfAbsolutePaths() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(user: entry("open", "")
            + entry("two", #"token_executables = ["/usr/bin/git", "/opt/tools/board"]"#)
            + entry("none", "token_executables = []"))
        #expect(catalog.problems == [])
        #expect(catalog.connections.map(\.tokenExecutables) == [nil, ["/usr/bin/git", "/opt/tools/board"], []])
    }

    @Test func authorizationParamsAreStringsAndNeverTheProtocolsOwn() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(user: entry("ok", #"authorization_params = { prompt = "login", login_hint = "jdoe" }"#)
            + entry("state", #"authorization_params = { state = "x" }"#)
            + entry("number", #"authorization_params = { max_age = 3600 }"#)
            + entry("list", #"authorization_params = ["prompt"]"#))
        #expect(catalog.connections.map(\.id) == ["ok"])
        #expect(catalog.connections.first?.authorizationParameters == ["prompt": "login", "login_hint": "jdoe"])
        #expect(catalog.problems.map(\.key) == ["authorization_params", "authorization_params", "authorization_params"])
        #expect(catalog.problems.first { $0.connection == "state" }?.message.contains("set by the agent") == true)
    }

    @Test(arguments: [#"["git"]"#, #""/usr/bin/git""#, #"["/usr/bin/git", 3]"#, "true"])
    func badTokenExecutablesAreRefused(value: String) throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(user: entry("acme", "token_executables = \(value)"))
        #expect(catalog.connections.isEmpty)
        #expect(catalog.problems.map(\.key) == ["token_executables"])
        #expect(catalog.problems.first?.message.contains("absolute paths") == true)
    }

    @Test(arguments: [
        "[80]", "[]", "[8400, \"8401\"]", "[70000]", "\"8403-8400\"", "\"8400\"", "\"abc\"",
        "\"8000-9500\"", "\"1000-1030\"", "8400", "true",
    ])
    func badRedirectPortsAreRefused(value: String) throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(user: entry("acme", "redirect_ports = \(value)"))
        #expect(catalog.connections.isEmpty)
        #expect(catalog.problems.map(\.key) == ["redirect_ports"])
        #expect(catalog.problems.first?.connection == "acme")
    }

    @Test func twoDefaultsGiveOneProblemAndTheGlobalOneWins() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(system: entry("acme", "default = true"),
                                       user: entry("mine", "default = true") + entry("other"))
        #expect(catalog.defaultConnection?.id == "acme")
        #expect(catalog.connections.filter(\.isDefault).map(\.id) == ["acme"])
        let problem = try #require(catalog.problems.first)
        #expect(catalog.problems.count == 1)
        #expect(problem.file == fixture.user)
        #expect(problem.connection == "mine")
        #expect(problem.key == "default")
        #expect(problem.message.contains("'acme'"))
    }

    @Test func twoDefaultsInTheUserFileKeepTheFirst() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(user: entry("one", "default = true") + entry("two", "default = true"))
        #expect(catalog.defaultConnection?.id == "one")
        #expect(catalog.problems.map(\.connection) == ["two"])
    }

    @Test func teamsAndResolve() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(
            system: entry("acme", "default = true") + entry("labs") + "[teams]\ndesign = \"labs\"\nops = \"acme\"\n",
            user: entry("mine") + "[teams]\nops = \"mine\"\n")
        #expect(catalog.problems == [])
        #expect(catalog.teams == ["design": "labs", "ops": "mine"])  // the user's entry wins
        #expect(catalog.resolve("labs")?.id == "labs")
        #expect(catalog.resolve("mine")?.id == "mine")
        #expect(catalog.resolve("default")?.id == "acme")
        #expect(catalog.resolve(nil)?.id == "acme")
        #expect(catalog.resolve("")?.id == "acme")
        #expect(catalog.resolve("design")?.id == "labs")
        #expect(catalog.resolve("team:design")?.id == "labs")
        #expect(catalog.resolve("team:ops")?.id == "mine")
        #expect(catalog.resolve("team:unmapped")?.id == "acme")
        #expect(catalog.resolve("acmee") == nil)
        #expect(catalog.resolve("unmapped") == nil)
    }

    @Test func teamNamingAnUndefinedConnectionIsAProblem() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(user: entry("acme") + "[teams]\ndesign = \"gone\"\n")
        #expect(catalog.problems.map(\.key) == ["teams.design"])
        #expect(catalog.resolve("design") == nil)
    }

    @Test func brokenTOMLKeepsTheOtherFilesConnectionsAndSaysWhere() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load(system: entry("acme"), user: """
            [[connection]]
            id = "mine"
            jira_url = "https://jira.example.com
            """)
        #expect(catalog.connections.map(\.id) == ["acme"])
        let problem = try #require(catalog.problems.first)
        #expect(catalog.problems.count == 1)
        #expect(problem.file == fixture.user)
        #expect(problem.message.contains("line 3"), "\(problem.message)")
        #expect(problem.message.contains("column"))
    }

    @Test func noFilesMeansAnEmptyCatalog() throws {
        let fixture = try CatalogFixture()
        let catalog = try fixture.load()
        #expect(catalog.connections.isEmpty && catalog.problems.isEmpty && catalog.files.isEmpty)
        #expect(catalog.defaultConnection == nil)
        #expect(catalog.resolve(nil) == nil)
    }
}
