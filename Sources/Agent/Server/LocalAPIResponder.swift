public import FoundationEssentials
import OAuth

/// The token API behind the Unix socket (DESIGN §6): every request whose path starts with
/// `/v1/` is read whole (body at most `AgentServer.Configuration.apiBodyLimit`, 64 KiB by
/// default) and handed to the responder. The server has already checked the peer's UID,
/// the `Host` header and cross-site headers; the responder sees only the user's own
/// processes.
public protocol LocalAPIResponder: Sendable {
    func respond(_ request: LocalAPIRequest) async -> LocalAPIResponse

    /// An answer that needs no waiting (e.g. a token served from memory), computed on the
    /// event loop without a task; `nil` hands the request to `respond(_:)`.
    func respondWithoutSuspending(_ request: LocalAPIRequest) -> LocalAPIResponse?
}

extension LocalAPIResponder {
    public func respondWithoutSuspending(_ request: LocalAPIRequest) -> LocalAPIResponse? { nil }
}

/// One fully buffered request to the token API.
public struct LocalAPIRequest: Sendable {
    /// `GET`, `POST`, … as received (upper case).
    public var method: String
    /// The path without the query, percent-encoded as received, e.g. `/v1/connections/acme/token`.
    public var path: String
    /// The query without `?`, percent-encoded as received; `nil` when there was none.
    public var query: String?
    /// Header fields in arrival order; names as received (compare case-insensitively, or use
    /// `header(_:)`).
    public var headers: [(name: String, value: String)]
    public var body: Data
    /// The calling process (SO_PEERCRED).
    public var peer: PeerCredentials

    public init(method: String, path: String, query: String? = nil,
                headers: [(name: String, value: String)] = [], body: Data = Data(),
                peer: PeerCredentials) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.peer = peer
    }

    /// The first value of a query parameter (form-decoded), e.g. `connection` in `?connection=acme`.
    public func queryValue(_ name: String) -> String? {
        query.flatMap { FormURLEncoding.decode($0).first { $0.name == name }?.value ?? nil }
    }

    /// The first value of a header field, by case-insensitive name.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// The answer to a `LocalAPIRequest`. The server adds `Content-Length` and, when the body is
/// not empty and no `Content-Type` is given, `Content-Type: application/json`.
public struct LocalAPIResponse: Sendable {
    /// The HTTP status code, e.g. 200.
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Data

    public init(status: Int, headers: [(name: String, value: String)] = [], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response: `value` encoded with sorted keys.
    public static func json(status: Int = 200, _ value: some Encodable) -> LocalAPIResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let body = try? encoder.encode(value) else {
            return .error(status: 500, code: "internal_error", message: "the response could not be encoded")
        }
        return LocalAPIResponse(status: status, headers: [("Content-Type", "application/json")], body: body)
    }

    /// The one error shape of the local interfaces: `{"error": code, "message": text}`.
    public static func error(status: Int, code: String, message: String) -> LocalAPIResponse {
        LocalAPIResponse(status: status, headers: [("Content-Type", "application/json")],
                         body: Data(LocalErrorBody.json(code: code, message: message)))
    }
}
