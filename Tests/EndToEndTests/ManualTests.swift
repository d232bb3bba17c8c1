import Foundation
import Testing
import TestSupport

/// Docs are contracts (STYLE §12): the shipped man page documents every subcommand and
/// every long option that the command definitions declare (`--help` of the built CLI).
@Suite struct ManualTests {
    static let commands = ["serve", "login", "token", "status", "revoke", "connections list",
                           "connections set-secret", "connections delete-secret", "connections test", "open", "proxy-url", "audit"]

    @Test("the man page names every command and option of the CLI", arguments: commands)
    func manPageCoversCommand(_ command: String) throws {
        let page = try String(contentsOf: Stack.root.appendingPathComponent("share/man/man1/jira-auth-agent.1"), encoding: .utf8)
            .replacingOccurrences(of: "\\-", with: "-").replacingOccurrences(of: "\\fB", with: "").replacingOccurrences(of: "\\fR", with: "")
        let help = try Run.capture([Stack.binary] + command.split(separator: " ").map(String.init) + ["--help"])
        #expect(help.status == 0, "\(help.stderr)")
        #expect(page.contains(command), "man page lacks the command '\(command)'")
        let options = Set(help.stdout.matches(of: /--[a-z][a-z-]+/).map { String($0.output) })
        #expect(!options.isEmpty)
        for option in options where option != "--help" {
            #expect(page.contains(option), "man page lacks \(option) of '\(command)'")
        }
    }
}
