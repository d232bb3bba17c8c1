public import Foundation

/// The real test stack as `scripts/with-stack.sh` exported it (tests/stack/README.md):
/// authorization server, Jira stand-in, headless-Chromium `$BROWSER`, and a private
/// D-Bus session with an unlocked gnome-keyring. `nil` when the suite runs without it.
public struct Stack: Sendable {
    public let env: [String: String]

    public static let current: Stack? = {
        let env = ProcessInfo.processInfo.environment
        guard env["AS_URL"] != nil, env["JIRA_URL"] != nil, env["KEYRING_SITUATION"] == "unlocked" else { return nil }
        return Stack(env: env)
    }()

    public static var isAvailable: Bool { current != nil }

    public func value(_ key: String) -> String { env[key] ?? "" }

    public var asURL: String { value("AS_URL") }
    public var jiraURL: String { value("JIRA_URL") }
    public var browser: String { value("BROWSER") }

    /// The repository root (tests run from anywhere).
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    /// The built CLI (`swift build` puts it next to the test bundle).
    public static var binary: String {
        if let explicit = ProcessInfo.processInfo.environment["JIRA_AUTH_AGENT_BIN"] { return explicit }
        return root.appendingPathComponent(".build/debug/jira-auth-agent").path
    }

    /// Counts at the authorization server (`GET /test/stats`).
    public func stats() throws -> [String: Int] {
        let out = try Run.capture(["curl", "-sf", "\(asURL)/test/stats"])
        let object = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any] ?? [:]
        var result: [String: Int] = [:]
        func flatten(_ prefix: String, _ value: Any) {
            if let n = value as? Int { result[prefix] = n }
            if let d = value as? [String: Any] { for (k, v) in d { flatten(prefix.isEmpty ? k : "\(prefix).\(k)", v) } }
        }
        flatten("", object)
        return result
    }

    /// Sets the lifetime of access tokens issued from now on; returns the previous one.
    @discardableResult
    public func setAccessTokenLifetime(_ seconds: Int) throws -> Int {
        let out = try Run.capture(["curl", "-sf", "-X", "POST", "\(asURL)/test/access-token-lifetime?seconds=\(seconds)"])
        let object = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
        guard let previous = object?["previous"] as? Int else { throw HarnessError("cannot set the token lifetime: \(out.stdout)") }
        return previous
    }

    /// The keyring secret of a connection, as another Secret Service client reads it.
    public func keyringSecret(connection: String) throws -> String {
        try Run.capture(["secret-tool", "lookup", "xdg:schema", "io.github.jira-auth-agent.Tokens", "connection", connection]).stdout
    }

    /// RFC 7662 introspection as the gateway client: is `token` active?
    public func isActive(_ token: String) throws -> Bool {
        let secret = try String(contentsOfFile: value("GATEWAY_CLIENT_SECRET_FILE"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let out = try Run.capture(["curl", "-sf", "-u", "\(value("GATEWAY_CLIENT_ID")):\(secret)", "--data-urlencode", "token@-", value("AS_INTROSPECT_URL")], stdin: token)
        let object = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
        return object?["active"] as? Bool ?? false
    }

    /// Makes the authorization server's `token` or `revoke` endpoint answer `status` with an
    /// HTML page from now on (`0`: normal again).
    public func fault(_ endpoint: String, status: Int) throws {
        _ = try Run.capture(["curl", "-sf", "-X", "POST", "\(asURL)/test/fault?endpoint=\(endpoint)&status=\(status)"])
    }

    /// Makes the gateway stand-in refuse every bearer token with 401 `invalid_token`.
    public func gatewayRefusesEverything(_ on: Bool) throws {
        _ = try Run.capture(["curl", "-sf", "-X", "POST", "--data-binary", on ? "1" : "0", "\(jiraURL)/test/reject-all"])
    }

    /// Locks the login keyring, or unlocks it with the session's throwaway password
    /// (`KEYRING_PASSWORD_FILE`, scripts/keyring-session.sh), without a prompt
    /// (tests/stack/keyring_lock.py).
    public func setKeyringLocked(_ locked: Bool) throws {
        let python = env["STACK_PYTHON"] ?? Self.root.appendingPathComponent(".venv/bin/python").path
        let script = Self.root.appendingPathComponent("tests/stack/keyring_lock.py").path
        let out = try Run.capture(locked ? [python, script, "lock"] : [python, script, "unlock", value("KEYRING_PASSWORD_FILE")], timeout: 30)
        guard out.status == 0 else { throw HarnessError("cannot \(locked ? "lock" : "unlock") the keyring: \(out.stderr)") }
    }
}
