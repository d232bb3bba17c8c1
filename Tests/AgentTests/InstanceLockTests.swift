import Foundation
import Testing
import Agent

/// One agent per user (SECURITY S6).
@Suite struct InstanceLockTests {
    func lockPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("agent-\(UUID().uuidString).lock").path
    }

    @Test func secondLockIsRefusedUntilTheFirstIsReleased() throws {
        let path = lockPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var first: InstanceLock? = try InstanceLock(path: path)
        #expect(first != nil)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "\(ProcessInfo.processInfo.processIdentifier)\n")
        do {
            _ = try InstanceLock(path: path)
            Issue.record("a second lock on \(path) was granted")
        } catch let error as AgentError {
            #expect(error.code == .alreadyRunning)
            #expect(error.message.contains(path))
        }
        first = nil  // deinit closes the descriptor, which releases the flock
        let second = try InstanceLock(path: path)
        withExtendedLifetime(second) {}
    }

    @Test func unopenablePathIsAConfigurationError() {
        let path = "/nonexistent-\(UUID().uuidString)/agent.lock"
        #expect {
            _ = try InstanceLock(path: path)
        } throws: { error in
            (error as? AgentError)?.code == .configuration && "\(error)".contains(path)
        }
    }
}
