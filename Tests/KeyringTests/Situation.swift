import Foundation
import Testing

/// The Secret Service situation this test process runs in, as `scripts/keyring-session.sh
/// MODE -- swift test …` exports it in `KEYRING_SITUATION`. `make test` runs the Keyring
/// tests once per situation; a plain `swift test` (no variable) never touches a real keyring.
enum Situation: String, Sendable {
    /// gnome-keyring with an unlocked login keyring: the contract suite and cross-checks run.
    case unlocked
    /// The login keyring exists but is locked, with one item `connection=locked-test`.
    case locked
    /// A session bus on which nothing can provide `org.freedesktop.secrets`.
    case none
    /// Something owns `org.freedesktop.secrets` and never answers.
    case hung
    /// Not run under `keyring-session.sh`.
    case unset

    static let current = Situation(
        rawValue: ProcessInfo.processInfo.environment["KEYRING_SITUATION"] ?? "") ?? .unset

    /// Why a test that needs this situation was skipped.
    var skipReason: Comment {
        "needs a Secret Service that is \(rawValue): run `scripts/keyring-session.sh \(rawValue) -- swift test --filter KeyringTests`"
    }
}
