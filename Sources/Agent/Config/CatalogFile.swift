import FoundationEssentials
import Glibc
import OAuth
import TOMLKit

/// One catalog file, parsed: its valid connections, its teams and its problems.
///
/// ```toml
/// [[connection]]
/// id = "acme"
/// name = "ACME Jira"
/// jira_url = "https://jira.acme.internal"
/// gateway_url = "https://api.acme.example/jira"
/// issuer = "https://sso.acme.example/realms/acme"
/// client_id = "jira-desktop"
/// client_secret_file = "/etc/jira-auth-agent/acme.secret"
/// scope = "openid offline_access"
/// default = true
///
/// [teams]
/// design = "acme"
/// ```
struct CatalogFile {
    var path: String
    var connections: [Connection] = []
    var teams: [String: String] = [:]
    var problems: [ConfigProblem] = []

    static let knownKeys: Set<String> = [
        "id", "name", "jira_url", "gateway_url", "issuer", "authorization_url", "token_url",
        "revocation_url", "device_authorization_url", "client_id", "client_secret_file",
        "client_secret", "scope", "default", "client_auth", "redirect_ports", "redirect_uri",
        "ca_bundle", "authorization_timeout", "token_executables", "authorization_params",
        "tls_client_certificate", "tls_client_key", "extra_headers_file",
    ]

    static func read(path: String, global: Bool) -> CatalogFile {
        var file = CatalogFile(path: path)
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            // FoundationEssentials' error describes itself as a struct dump: say it plainly.
            if access(path, R_OK) != 0 {
                file.problems.append(.init(file: path, message: "cannot be read (\(String(cString: strerror(errno)))); check its permissions"))
            } else {
                file.problems.append(.init(file: path, message: "is not UTF-8 text; save it as UTF-8"))
            }
            return file
        }
        file.parse(text: text, origin: global ? .global(file: path) : .user(file: path))
        return file
    }

    mutating func parse(text: String, origin: Connection.Origin) {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            problems.append(.init(file: path, message: "is not valid TOML at line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)"))
            return
        } catch {
            problems.append(.init(file: path, message: "is not valid TOML"))
            return
        }
        for key in table.keys where key != "connection" && key != "teams" {
            problems.append(.init(file: path, key: key, message: "unknown top-level key; expected [[connection]] tables and a [teams] table"))
        }
        if let teamsValue = table["teams"] {
            if let teamTable = teamsValue.table {
                for team in teamTable.keys {
                    if let id = teamTable[team]?.string { teams[team] = id } else {
                        problems.append(.init(file: path, key: "teams.\(team)", message: "must be a connection id (a string)"))
                    }
                }
            } else {
                problems.append(.init(file: path, key: "teams", message: "must be a table: [teams] name = \"connection-id\""))
            }
        }
        guard let list = table["connection"] else { return }
        guard let array = list.array else {
            problems.append(.init(file: path, key: "connection", message: "must be written as [[connection]] tables"))
            return
        }
        for (index, element) in array.enumerated() {
            guard let entry = element.table else {
                problems.append(.init(file: path, connection: "#\(index + 1)", message: "must be a table"))
                continue
            }
            var reader = EntryReader(table: entry, file: path, label: "#\(index + 1)")
            if let connection = reader.connection(origin: origin) {
                connections.append(connection)
            }
            problems += reader.problems
        }
    }
}

/// Reads one `[[connection]]` table, collecting a problem per bad key.
struct EntryReader {
    let table: TOMLTable
    let file: String
    var label: String
    var problems: [ConfigProblem] = []

    init(table: TOMLTable, file: String, label: String) {
        self.table = table
        self.file = file
        self.label = label
    }

    mutating func problem(_ key: String?, _ message: String) {
        problems.append(.init(file: file, connection: label, key: key, message: message))
    }

    mutating func string(_ key: String, required: Bool = false) -> String? {
        guard let value = table[key] else {
            if required { problem(key, "is required") }
            return nil
        }
        guard let s = value.string else { problem(key, "must be a string"); return nil }
        if s.isEmpty, required { problem(key, "must not be empty"); return nil }
        return s
    }

    mutating func url(_ key: String, required: Bool = false) -> URL? {
        guard let s = string(key, required: required) else { return nil }
        guard let url = URL(string: s), let scheme = url.scheme?.lowercased(), url.host != nil,
              scheme == "https" || scheme == "http" else {
            problem(key, "must be an absolute http(s) URL, got '\(s)'")
            return nil
        }
        if scheme == "http", !URLSafety.isLoopback(host: url.host ?? "") {
            problem(key, "must use https (plain http is allowed only for loopback hosts, for development)")
            return nil
        }
        if url.user != nil || url.password != nil {
            problem(key, "must not carry credentials")
            return nil
        }
        return url
    }

    mutating func connection(origin: Connection.Origin) -> Connection? {
        if let id = table["id"]?.string, !id.isEmpty { label = id }
        for key in table.keys where !CatalogFile.knownKeys.contains(key) {
            problem(key, "unknown key (known: \(CatalogFile.knownKeys.sorted().joined(separator: ", ")))")
        }
        guard let id = string("id", required: true) else { return nil }
        label = id
        guard CatalogFile.matchesIDPattern(id), id != "default" else {
            problem("id", "must be 1–64 letters, digits, '.', '_' or '-' (and not 'default'), got '\(id)'")
            return nil
        }
        let before = problems.count
        if table["client_secret"] != nil {
            problem("client_secret", "secrets are not read from configuration files; use client_secret_file (mode 0600) or `jira-auth-agent connections set-secret \(id)`")
        }
        let jira = url("jira_url", required: true)
        let gateway = url("gateway_url")
        let issuer = string("issuer")
        let authorization = url("authorization_url")
        let token = url("token_url")
        let revocation = url("revocation_url")
        let device = url("device_authorization_url")
        if issuer == nil, authorization == nil || token == nil {
            problem(issuer == nil && authorization == nil ? "issuer" : "token_url",
                    "set either issuer (for discovery) or both authorization_url and token_url")
        }
        if let issuer, URL(string: issuer)?.scheme == nil { problem("issuer", "must be a URL") }
        let clientID = string("client_id", required: true)
        let secretFile = string("client_secret_file")
        let scope = string("scope") ?? ""
        var isDefault = false
        if let v = table["default"] {
            if let b = v.bool { isDefault = b } else { problem("default", "must be true or false") }
        }
        var clientAuth = Connection.ClientAuthMethod.basic
        if let s = string("client_auth") {
            if let m = Connection.ClientAuthMethod(rawValue: s) { clientAuth = m } else {
                problem("client_auth", "must be one of basic, post, none; got '\(s)'")
            }
        }
        let ports = redirectPorts()
        var redirectURI: URL?
        if let s = string("redirect_uri") {
            if let u = URL(string: s), u.scheme == "http", let host = u.host, URLSafety.isLoopback(host: host), u.port != nil {
                redirectURI = u
            } else {
                problem("redirect_uri", "must be a loopback http URL with a port, like http://127.0.0.1:8400/callback")
            }
        }
        let ca = string("ca_bundle")
        if let ca, !FileManager.default.isReadableFile(atPath: ca) { problem("ca_bundle", "file '\(ca)' cannot be read") }
        var timeout: TimeInterval = 300
        if let v = table["authorization_timeout"] {
            if let i = v.int, (10...3600).contains(i) { timeout = TimeInterval(i) } else {
                problem("authorization_timeout", "must be a whole number of seconds between 10 and 3600")
            }
        }
        var executables: [String]?
        if let v = table["token_executables"] {
            let paths = v.array?.compactMap { $0.string }
            if let paths, paths.count == v.array?.count, paths.allSatisfy({ $0.hasPrefix("/") && !$0.contains("\0") }) {
                executables = paths
            } else {
                problem("token_executables", "must be a list of absolute paths like [\"/usr/bin/git\"] (an empty list: no program gets raw tokens)")
            }
        }
        var authorizationParams: [String: String] = [:]
        if let v = table["authorization_params"] {
            if let params = v.table {
                for name in params.keys.sorted() {
                    if OAuth.AuthorizationRequest.reservedParameters.contains(name) {
                        problem("authorization_params", "'\(name)' is set by the agent itself and cannot be overridden")
                    } else if let value = params[name]?.string {
                        authorizationParams[name] = value
                    } else {
                        problem("authorization_params", "'\(name)' must be a string")
                    }
                }
            } else {
                problem("authorization_params", "must be a table like { prompt = \"login\", login_hint = \"jdoe\" }")
            }
        }
        let clientCertificate = string("tls_client_certificate")
        let clientKey = string("tls_client_key")
        if (clientCertificate == nil) != (clientKey == nil) {
            problem(clientCertificate == nil ? "tls_client_certificate" : "tls_client_key",
                    "set both tls_client_certificate and tls_client_key, or neither")
        }
        if let clientCertificate, !FileManager.default.isReadableFile(atPath: clientCertificate) {
            problem("tls_client_certificate", "file '\(clientCertificate)' cannot be read")
        }
        if let clientKey {
            var info = stat()
            if stat(clientKey, &info) != 0 || !FileManager.default.isReadableFile(atPath: clientKey) {
                problem("tls_client_key", "file '\(clientKey)' cannot be read")
            } else if info.st_mode & 0o077 != 0 {
                problem("tls_client_key", "file '\(clientKey)' is readable by others; it is a private key: chmod 600 '\(clientKey)'")
            }
        }
        let extraHeaders = string("extra_headers_file")
        if let extraHeaders {
            do { _ = try ExtraHeaders.read(extraHeaders) } catch { problem("extra_headers_file", error.message) }
        }
        guard problems.count == before, let jira, let clientID else { return nil }
        return Connection(
            id: id, name: string("name") ?? id, jiraURL: jira, gatewayURL: gateway, issuer: issuer,
            authorizationURL: authorization, tokenURL: token, revocationURL: revocation,
            deviceAuthorizationURL: device, clientID: clientID, clientSecretFile: secretFile,
            scope: scope, isDefault: isDefault, clientAuth: clientAuth, redirectPorts: ports,
            redirectURI: redirectURI, caBundle: ca, authorizationTimeout: timeout,
            tokenExecutables: executables, authorizationParameters: authorizationParams,
            tlsClientCertificate: clientCertificate, tlsClientKey: clientKey, extraHeadersFile: extraHeaders, origin: origin)
    }

    /// `redirect_ports = [8400, 8401]` or `redirect_ports = "8400-8410"`.
    mutating func redirectPorts() -> [Int] {
        guard let value = table["redirect_ports"] else { return [] }
        let valid = 1024...65535
        if let array = value.array {
            let ports = array.compactMap { $0.int }
            if ports.count == array.count, ports.allSatisfy(valid.contains), !ports.isEmpty { return ports }
        } else if let s = value.string {
            let parts = s.split(separator: "-").map { Int($0.trimmingASCIISpaces()) }
            if parts.count == 2, let lo = parts[0], let hi = parts[1], valid.contains(lo), valid.contains(hi), lo <= hi, hi - lo < 1000 {
                return Array(lo...hi)
            }
        }
        problem("redirect_ports", "must be a list of ports like [8400, 8401] or a range like \"8400-8410\" (1024–65535)")
        return []
    }
}

extension CatalogFile {
    /// `id.range(of: #"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"#, options: .regularExpression) != nil`
    /// without the regular expression engine: that call initialised ICU (its code and data)
    /// in every `serve` at start-up, for one match per connection. Same answers, including
    /// ICU's `$`, which also matches before one line terminator at the very end (`"acme\n"`
    /// passes; tested against the regex).
    static func matchesIDPattern(_ id: String) -> Bool {
        var scalars = Substring(id).unicodeScalars
        if scalars.last == "\n", scalars.dropLast().last == "\r" {
            scalars = scalars.dropLast(2)
        } else if let last = scalars.last,
                  ["\n", "\u{0B}", "\u{0C}", "\r", "\u{85}", "\u{2028}", "\u{2029}"].contains(last) {
            scalars = scalars.dropLast()
        }
        guard let first = scalars.first, (1...64).contains(scalars.count) else { return false }
        func alphanumeric(_ c: Unicode.Scalar) -> Bool {
            ("A"..."Z").contains(c) || ("a"..."z").contains(c) || ("0"..."9").contains(c)
        }
        return alphanumeric(first) && scalars.dropFirst().allSatisfy { alphanumeric($0) || $0 == "." || $0 == "_" || $0 == "-" }
    }
}
