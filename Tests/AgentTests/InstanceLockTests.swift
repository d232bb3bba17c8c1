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
        // A process that another test is spawning at this very moment holds a copy of every
        // descriptor from its fork until its exec closes the O_CLOEXEC ones: that moment (it
        // failed one clean-clone run in about ten) is allowed to pass, for up to 2 s.
        var second: InstanceLock?
        for attempt in 0..<100 where second == nil {
            if attempt > 0 { Thread.sleep(forTimeInterval: 0.02) }
            second = try? InstanceLock(path: path)
        }
        #expect(second != nil, "the released lock could not be taken again within 2 s")
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
