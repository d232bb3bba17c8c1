public import Keyring

/// Client secrets in memory, for tests of what reads them (`ClientSecretSource`). `failure`
/// makes every call throw, as a locked or absent Secret Service would.
public actor MemoryClientSecretStore: ClientSecretStore {
    private var secrets: [String: String]
    private let failure: KeyringError?

    public init(_ secrets: [String: String] = [:], failure: KeyringError? = nil) {
        self.secrets = secrets
        self.failure = failure
    }

    public func load(connection: String) throws -> String? {
        if let failure { throw failure }
        return secrets[connection]
    }

    public func save(_ secret: String, connection: String) throws {
        if let failure { throw failure }
        secrets[connection] = secret
    }

    @discardableResult
    public func delete(connection: String) throws -> Bool {
        if let failure { throw failure }
        return secrets.removeValue(forKey: connection) != nil
    }
}
