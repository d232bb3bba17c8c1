import FoundationEssentials
import OAuth

/// The corporate HTTP proxy from `HTTPS_PROXY`/`https_proxy` and `NO_PROXY`/`no_proxy`, as
/// curl and most tools read them. Only https targets go through it, tunnelled with CONNECT
/// (the agent's plain-http targets are loopback-only by configuration). Its credentials
/// (`http://user:password@host:port`) are sent as `Proxy-Authorization: Basic` and never
/// shown: `description` names the proxy without them.
public struct ForwardProxy: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// `Basic …` when the URL carried credentials.
    var authorization: String?
    /// `NO_PROXY` entries, lower case, without leading dots or ports.
    var noProxy: [String]

    public var description: String {
        "http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(authorization == nil ? "" : " (with credentials)")"
    }

    /// Read once per process: the environment does not change under a running agent.
    public static let fromProcessEnvironment: Result<ForwardProxy?, AgentError> = Result {
        try parse(environment: ProcessInfo.processInfo.environment)
    }.mapError { $0 as? AgentError ?? AgentError(.configuration, "\($0)") }

    /// What is wrong with `HTTPS_PROXY`, if anything: https requests then fail with it
    /// instead of going out directly.
    public static var environmentProblem: AgentError? {
        if case .failure(let error) = fromProcessEnvironment { return error }
        return nil
    }

    /// `nil` when no proxy is set. A value that is not an http proxy URL is an error that
    /// says so, rather than a silently direct connection.
    public static func parse(environment env: [String: String]) throws(AgentError) -> ForwardProxy? {
        let name = env["https_proxy"] != nil ? "https_proxy" : "HTTPS_PROXY"
        guard let raw = env[name].map({ String($0.trimmingASCIISpaces()) }), !raw.isEmpty else { return nil }
        let text = raw.contains("://") ? raw : "http://" + raw
        guard let url = URLComponents(string: text), let host = url.host, !host.isEmpty else {
            throw AgentError(.configuration, "\(name) is not a proxy URL like http://proxy.example:3128; fix or unset it.")
        }
        guard url.scheme?.lowercased() == "http" else {
            throw AgentError(.configuration, "\(name) uses \(url.scheme ?? "?")://; only http:// proxies (with CONNECT) are supported.")
        }
        var authorization: String?
        if let user = url.percentEncodedUser {
            let password = url.percentEncodedPassword ?? ""
            let credentials = (user.removingPercentEncodingASCII() ?? user) + ":" + (password.removingPercentEncodingASCII() ?? password)
            authorization = "Basic " + Data(credentials.utf8).base64EncodedString()
        }
        let bareHost = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        let noProxyValue = env["no_proxy"] ?? env["NO_PROXY"] ?? ""
        // As curl: `*` alone means no proxy for any host; inside a list it is no wildcard.
        if String(noProxyValue.trimmingASCIISpaces()) == "*" {
            return ForwardProxy(host: bareHost, port: url.port ?? 80, authorization: authorization, noProxy: ["*"])
        }
        let noProxy = noProxyValue.split(separator: ",").compactMap { entry -> String? in
            var e = String(entry.trimmingASCIISpaces()).lowercased()
            if e.hasPrefix("[") , let close = e.firstIndex(of: "]") { return String(e[e.index(after: e.startIndex)..<close]) }
            if e.filter({ $0 == ":" }).count == 1, let colon = e.firstIndex(of: ":") { e = String(e[..<colon]) }   // host:port
            while e.hasPrefix(".") || e.hasPrefix("*.") { e.removeFirst(e.hasPrefix("*.") ? 2 : 1) }
            return e.isEmpty || e == "*" ? nil : e
        }
        return ForwardProxy(host: bareHost, port: url.port ?? 80, authorization: authorization, noProxy: noProxy)
    }

    /// Whether a connection to `host` goes through the proxy: not when `NO_PROXY` is `*`,
    /// names the host, or a domain the host is in (`example.com` covers `jira.example.com`).
    public func applies(to host: String) -> Bool {
        let h = host.lowercased().trimming(while: { $0 == "[" || $0 == "]" })
        for entry in noProxy {
            if (entry == "*" && noProxy.count == 1) || h == entry || h.hasSuffix("." + entry) { return false }
        }
        return true
    }
}
