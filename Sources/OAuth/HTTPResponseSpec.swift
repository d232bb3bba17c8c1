public import FoundationEssentials

/// An HTTP response as the Agent's HTTP client received it, handed to this module's
/// parsers. The client must not follow redirects: a 3xx arrives here as it is.
public struct HTTPResponseSpec: Sendable {
    /// The status code.
    public var status: Int
    /// Header fields in order.
    public var headers: [(name: String, value: String)]
    /// The body; the client should stop reading past `HTTPResponseSpec.maximumBodySize`
    /// plus one byte, so that the parsers see it is too large.
    public var body: Data

    /// Bodies larger than this (1 MiB) are rejected unread by every parser here.
    public static let maximumBodySize = 1 << 20

    public init(status: Int, headers: [(name: String, value: String)] = [], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of the named header field, compared case-insensitively (RFC 9110 §5.1).
    public func header(_ name: String) -> String? {
        HTTPHeaderLookup.first(name, in: headers)
    }

    /// 300–399: never followed (SECURITY S9).
    var isRedirect: Bool { (300...399).contains(status) }
}

extension HTTPResponseSpec: CustomStringConvertible {
    /// Status and sizes only: the body may hold tokens.
    public var description: String {
        "HTTP \(status) [headers: \(headers.map(\.name).joined(separator: ", "))] [body: \(body.count) bytes]"
    }
}
