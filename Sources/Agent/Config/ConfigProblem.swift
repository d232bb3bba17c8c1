/// One thing wrong in a catalog file: names the file, the connection and the key, and
/// says what to do (DESIGN §3). Problems never stop the valid connections from loading.
public struct ConfigProblem: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var connection: String?
    public var key: String?
    public var message: String

    public init(file: String, connection: String? = nil, key: String? = nil, message: String) {
        self.file = file
        self.connection = connection
        self.key = key
        self.message = message
    }

    public var description: String {
        var place = file
        if let connection { place += ": connection '\(connection)'" }
        if let key { place += ": key '\(key)'" }
        return "\(place): \(message)"
    }
}
