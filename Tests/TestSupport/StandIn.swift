import Foundation
import Crypto

/// A second Jira stand-in for one test (e.g. a gateway under a context path), checking
/// tokens against the stack's authorization server like the first.
public final class StandIn: @unchecked Sendable {
    public let port: Int
    public let baseURL: String
    let process: Process

    init(port: Int, baseURL: String, process: Process) {
        self.port = port
        self.baseURL = baseURL
        self.process = process
    }

    public static func start(stack: Stack, context: String) throws -> StandIn {
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: stack.value("STACK_PYTHON"))
        process.arguments = [Stack.root.appendingPathComponent("tests/stack/jira_standin.py").path]
        var env = ProcessInfo.processInfo.environment
        env["JIRA_PORT"] = String(port)
        env["JIRA_CONTEXT"] = context
        env["JIRA_BASE_URL"] = "http://127.0.0.1:\(port)\(context)"
        env["AS_INTROSPECT_URL"] = stack.value("AS_INTROSPECT_URL")
        env["GATEWAY_CLIENT_ID"] = stack.value("GATEWAY_CLIENT_ID")
        env["GATEWAY_CLIENT_SECRET_FILE"] = stack.value("GATEWAY_CLIENT_SECRET_FILE")
        env["JIRA_DATA_DIR"] = FileManager.default.temporaryDirectory.appendingPathComponent("standin-\(port)").path
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let standIn = StandIn(port: port, baseURL: "http://127.0.0.1:\(port)\(context)", process: process)
        for _ in 0..<100 {
            if (try? Run.capture(["curl", "-sf", "http://127.0.0.1:\(port)/test/stats"]).status) == 0 { return standIn }
            Thread.sleep(forTimeInterval: 0.1)
        }
        standIn.stop()
        throw HarnessError("the second Jira stand-in did not start")
    }

    /// SIGTERM, then SIGKILL after 5 s. Polls instead of `waitUntilExit()`, which was seen
    /// to hang forever here after the child had exited.
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    public func tokenHashes() throws -> Set<String> {
        try Self.tokenHashes(statsURL: "http://127.0.0.1:\(port)/test/stats")
    }

    /// SHA-256 (hex) of every bearer token a stand-in has seen.
    public static func tokenHashes(statsURL: String) throws -> Set<String> {
        let out = try Run.capture(["curl", "-sf", statsURL])
        let object = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
        return Set(object?["token_sha256"] as? [String] ?? [])
    }

    static func freePort() throws -> Int {
        let out = try Run.capture(["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"])
        guard let port = Int(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw HarnessError("no free port") }
        return port
    }
}

public func sha256Hex(_ text: String) -> String {
    SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
}
