import Foundation
import Keyring
import OAuth

/// Token sets and identities for tests; connection ids are unique per call so that tests
/// sharing one keyring (one `keyring-session.sh` run) never see each other's items.
enum Fixture {
    static func connection(_ name: String = "c") -> String {
        "test-\(name)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    static func identity(_ connection: String, account: String? = "alice") -> ItemIdentity {
        ItemIdentity(
            connection: connection, jiraURL: "https://jira.example.test/\(connection)",
            account: account, label: "Jira tokens — \(connection)")
    }

    static func tokens(_ access: String = "at-1", refresh: String? = "rt-1") -> TokenSet {
        TokenSet(
            accessToken: access, refreshToken: refresh,
            expiresAt: Date(timeIntervalSince1970: 1_900_000_000), scope: "read write",
            obtainedAt: Date(timeIntervalSince1970: 1_800_000_000), account: "alice")
    }
}
