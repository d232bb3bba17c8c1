import FoundationEssentials

/// Where one connection's API calls go, parsed once from `Connection.apiBaseURL` so the hot
/// path never touches `URL` (issue 5: "forwards to `gateway_url` if set, else `jira_url`").
/// A class: every request holds it, and a struct of eight strings cost eight retains and
/// releases per copy.
final class UpstreamTarget: Sendable, Equatable {
    enum Scheme: Sendable, Equatable { case http, https }

    let connectionID: String
    let scheme: Scheme
    /// The host to connect to and verify (no brackets around IPv6 literals).
    let host: String
    let port: Int
    /// `Host` as sent upstream: host, and the port when it is not the scheme's default.
    let hostHeader: String
    /// The base path without a trailing slash: `""` or e.g. `/jira`.
    let basePath: String
    /// Trusted CAs and the client certificate (SECURITY S13).
    let tlsOptions: TLSOptions
    /// `extra_headers_file`'s fields, written after `Authorization` as bytes, and their
    /// lower-case names (a client's field of the same name is not passed on).
    let extraFieldLines: String
    let extraFieldNames: [String]
    /// Absolute bases whose links are rewritten to the proxy: the API base and Jira's own,
    /// without trailing slash, longest first.
    let rewriteBases: [String]

    init(connection: Connection) throws(AgentError) {
        let base = connection.apiBaseURL
        guard let parts = URLComponents(url: base, resolvingAgainstBaseURL: false),
              let schemeName = parts.scheme?.lowercased(),
              var host = parts.percentEncodedHost, !host.isEmpty
        else {
            throw AgentError(.configuration, "connection '\(connection.id)': the API base URL has no host")
        }
        switch schemeName {
        case "http": scheme = .http
        case "https": scheme = .https
        default:
            throw AgentError(.configuration, "connection '\(connection.id)': the API base URL must be http or https")
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let defaultPort = scheme == .https ? 443 : 80
        self.connectionID = connection.id
        self.host = host
        self.port = parts.port ?? defaultPort
        let hostPart = host.contains(":") ? "[\(host)]" : host
        self.hostHeader = port == defaultPort ? hostPart : "\(hostPart):\(port)"
        var path = parts.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        self.basePath = path
        self.tlsOptions = connection.tlsOptions
        let extra = try connection.extraHeadersFile.map { path throws(AgentError) in try ExtraHeaders.read(path) } ?? []
        self.extraFieldLines = extra.map { "\($0.name): \($0.value)\r\n" }.joined()
        self.extraFieldNames = extra.map { $0.name.lowercased() }
        let bases = [base, connection.jiraURL].map { url -> String in
            var s = url.absoluteString
            if let q = s.firstIndex(where: { $0 == "?" || $0 == "#" }) { s = String(s[..<q]) }
            while s.hasSuffix("/") { s.removeLast() }
            return s
        }
        self.rewriteBases = Array(Set(bases)).sorted { $0.utf8.count > $1.utf8.count }
    }

    /// Writes the origin-form request target upstream for the part of the path after
    /// `/jira/<name>` (`rest` starts with `/` or `?`, or is empty): the base path, a `/`
    /// when `rest` does not begin with one, then `rest` — at most `targetCount(rest:)` bytes.
    func writeRequestTarget(rest: UnsafeRawBufferPointer, into w: inout ByteWriter) {
        w.append(basePath)
        if rest.first != UInt8(ascii: "/") { w.append("/") }
        w.append(rest)
    }

    func targetCount(rest: Int) -> Int { basePath.utf8.count + 1 + rest }

    static func == (a: UpstreamTarget, b: UpstreamTarget) -> Bool {
        a === b || (a.connectionID == b.connectionID && a.scheme == b.scheme && a.host == b.host && a.port == b.port
            && a.hostHeader == b.hostHeader && a.basePath == b.basePath && a.tlsOptions == b.tlsOptions
            && a.extraFieldLines == b.extraFieldLines
            && a.rewriteBases == b.rewriteBases)
    }

    /// The key of the TLS and connection pools: what the TCP/TLS connection depends on.
    var poolKey: String {
        "\(connectionID)|\(scheme == .https ? "s" : "")|\(host)|\(port)|\(tlsOptions.caBundle ?? "")|\(tlsOptions.clientCertificate ?? "")"
    }
}
