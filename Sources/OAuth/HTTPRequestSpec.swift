public import FoundationEssentials

/// An HTTP request this module wants sent, as a plain value: the Agent's HTTP client
/// sends it exactly as given (no cookies, no cache, no redirects followed — SECURITY S9,
/// S11). Bodies here are `application/x-www-form-urlencoded` (RFC 6749 Appendix B).
public struct HTTPRequestSpec: Sendable {
    /// `POST` for every endpoint this module talks to.
    public var method: String
    /// The endpoint, used as configured or discovered.
    public var url: URL
    /// Header fields in order; names as sent.
    public var headers: [(name: String, value: String)]
    /// The request body.
    public var body: Data

    public init(method: String, url: URL, headers: [(name: String, value: String)], body: Data) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// The first value of the named header field, compared case-insensitively (RFC 9110 §5.1).
    public func header(_ name: String) -> String? {
        HTTPHeaderLookup.first(name, in: headers)
    }

    /// A form POST with `Accept: application/json` and the client's authentication
    /// applied (RFC 6749 §2.3, §4.1.3; RFC 7009 §2.1; RFC 8628 §3.1).
    static func formPost(
        endpoint: URL, parameters: [(String, String)], client: ClientAuthentication
    ) -> HTTPRequestSpec {
        var headers: [(name: String, value: String)] = [
            (name: "Content-Type", value: "application/x-www-form-urlencoded"),
            (name: "Accept", value: "application/json"),
        ]
        if let authorization = client.authorizationHeaderValue {
            headers.append((name: "Authorization", value: authorization))
        }
        let body = FormURLEncoding.encode(parameters + client.bodyParameters)
        return HTTPRequestSpec(method: "POST", url: endpoint, headers: headers, body: Data(body.utf8))
    }
}

extension HTTPRequestSpec: CustomStringConvertible {
    /// Method, URL and header names only: the body and header values may hold secrets.
    public var description: String {
        let names = headers.map(\.name).joined(separator: ", ")
        return "\(method) \(url.absoluteString) [headers: \(names)] [body: \(body.count) bytes]"
    }
}

/// Case-insensitive header field lookup shared by request and response values.
enum HTTPHeaderLookup {
    static func first(_ name: String, in headers: [(name: String, value: String)]) -> String? {
        headers.first { $0.name.caseInsensitiveEquals(name) }?.value
    }
}

extension String {
    /// ASCII case-insensitive equality, as header names and `token_type` compare.
    func caseInsensitiveEquals(_ other: String) -> Bool {
        lowercased() == other.lowercased()
    }
}
