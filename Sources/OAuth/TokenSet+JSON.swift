public import FoundationEssentials

extension TokenSet {
    /// The keyring secret: compact JSON, dates as seconds since 1970.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    /// Reads a keyring secret written by `jsonData()`.
    public init(jsonData: Data) throws {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        self = try decoder.decode(TokenSet.self, from: jsonData)
    }
}
