import Foundation
import Crypto

/// A second Jira for one test (e.g. a gateway under a context path): a stand-in behind its own
/// API gateway (Apache httpd + mod_oauth2), checking tokens against the stack's authorization
/// server like the first. Started and stopped by `scripts/stack.sh start-jira` / `stop` in a
/// state directory of its own.
public final class StandIn: @unchecked Sendable {
    /// The gateway's port: what clients use.
    public let port: Int
    /// The stand-in's own port, behind the gateway (test hooks only).
    public let directPort: Int
    /// The gateway's URL, with the context path.
    public let baseURL: String
    let stateDir: URL

    init(port: Int, directPort: Int, baseURL: String, stateDir: URL) {
        self.port = port
        self.directPort = directPort
        self.baseURL = baseURL
        self.stateDir = stateDir
    }

    public static func start(stack: Stack, context: String) throws -> StandIn {
        let gatewayPort = try freePort()
        let jiraPort = try freePort()
        let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("standin-\(gatewayPort)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: stateDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let standIn = StandIn(port: gatewayPort, directPort: jiraPort, baseURL: "http://127.0.0.1:\(gatewayPort)\(context)", stateDir: stateDir)
        let out = try Run.capture([Stack.root.appendingPathComponent("scripts/stack.sh").path, "start-jira"], env: [
            "STACK_STATE_DIR": stateDir.path,
            "GATEWAY_PORT": String(gatewayPort),
            "JIRA_PORT": String(jiraPort),
            "JIRA_CONTEXT": context,
            "JIRA_DATA_DIR": stateDir.appendingPathComponent("jira-data").path,
            "AS_URL": stack.asURL,
            "GATEWAY_CLIENT_SECRET_FILE": stack.value("GATEWAY_CLIENT_SECRET_FILE"),
            "STACK_PYTHON": stack.value("STACK_PYTHON"),
        ], timeout: 90)
        guard out.status == 0 else {
            standIn.stop()
            throw HarnessError("the second Jira (stand-in + gateway) did not start: \(out.stderr.suffix(2000))")
        }
        return standIn
    }

    /// Stops the gateway and the stand-in (SIGTERM to each process group, SIGKILL after 5 s)
    /// and removes the state directory.
    public func stop() {
        _ = try? Run.capture([Stack.root.appendingPathComponent("scripts/stack.sh").path, "stop"],
                             env: ["STACK_STATE_DIR": stateDir.path], timeout: 30)
        try? FileManager.default.removeItem(at: stateDir)
    }

    /// SHA-256 (hex) of every bearer token that reached this stand-in through its gateway.
    public func tokenHashes() throws -> Set<String> {
        try Self.tokenHashes(statsURL: "http://127.0.0.1:\(directPort)/test/stats")
    }

    /// SHA-256 (hex) of every bearer token a stand-in has seen (that its gateway let through).
    public static func tokenHashes(statsURL: String) throws -> Set<String> {
        let out = try Run.capture(["curl", "-sf", statsURL])
        let object = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
        return Set(object?["token_sha256"] as? [String] ?? [])
    }

    public static func freePort() throws -> Int {
        let out = try Run.capture(["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"])
        guard let port = Int(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw HarnessError("no free port") }
        return port
    }
}

public func sha256Hex(_ text: String) -> String {
    SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
}
