import Foundation
import Testing
@testable import Agent

/// `RevocationRecords`: the note, outside the keyring, that a revocation is not settled.
struct RevocationRecordsTests {
    @Test func recordsSurviveANewInstanceAndAreClearedPerConnection() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jaa-records-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let environment = ["XDG_STATE_HOME": directory.path]
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        RevocationRecords.standard(environment: environment).record("acme", at: at)
        RevocationRecords.standard(environment: environment).record("other", at: at.addingTimeInterval(5))
        // A later process (the agent restarted) reads them.
        let again = RevocationRecords.standard(environment: environment)
        #expect(again.revokedAt("acme") == at)
        #expect(again.revokedAt("other") == at.addingTimeInterval(5))
        again.clear("acme")
        #expect(RevocationRecords.standard(environment: environment).revokedAt("acme") == nil)
        #expect(RevocationRecords.standard(environment: environment).revokedAt("other") != nil)
        // Only the user can read it; it names connections and times, nothing secret.
        let file = directory.appendingPathComponent("jira-auth-agent/revocations.json").path
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == #"{"other":1800000005}"#)
    }
}
