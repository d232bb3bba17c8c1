import Keyring
import Testing

/// The one `TokenStore` contract suite, parameterized over the store implementations (one
/// nested suite each) and over the checks of `ContractCheck`.
@Suite("TokenStore contract", .timeLimit(.minutes(1)))
struct TokenStoreContractTests {
    @Suite("MemoryStore")
    struct Memory {
        @Test(arguments: ContractCheck.allCases)
        func contract(_ check: ContractCheck) async throws {
            try await check.run(on: MemoryStore())
        }
    }

    /// Needs a real Secret Service, which `scripts/keyring-session.sh unlocked` provides;
    /// under any other situation (or a plain `swift test`) the suite is reported as skipped,
    /// never as passed. Serialized: the checks share the session's keyring.
    @Suite("SecretServiceStore", .serialized, .enabled(if: Situation.current == .unlocked, Situation.unlocked.skipReason))
    struct SecretService {
        @Test(arguments: ContractCheck.allCases)
        func contract(_ check: ContractCheck) async throws {
            try await check.run(on: SecretServiceStore(timeout: .seconds(5)))
        }
    }
}
