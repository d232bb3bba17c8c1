import Foundation
import Testing
@testable import Agent

/// Programs the agent starts (browser, gdbus): exactly the environment given, stdio on
/// /dev/null, no other descriptor inherited, and no zombie left behind.
@Suite struct ChildProcessTests {
    @Test func childGetsOnlyWhatItIsGiven() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // A descriptor without O_CLOEXEC: it must not reach the child.
        let marker = dir.appendingPathComponent("leak-marker").path
        let leaked = open(marker, O_RDWR | O_CREAT, 0o600)
        #expect(leaked > 2)
        defer { close(leaked) }

        let script = "echo \"$FOO ${HOME-unset}\" > '\(dir.path)/env'; ls -l /proc/$$/fd/ > '\(dir.path)/fds.tmp'; "
            + "readlink /proc/$$/fd/0 > '\(dir.path)/stdin'; mv '\(dir.path)/fds.tmp' '\(dir.path)/fds'"
        #expect(ChildProcess.startDetached(["sh", "-c", script], environment: ["FOO": "bar", "PATH": "/usr/bin:/bin"]))

        let fds = dir.appendingPathComponent("fds")
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: fds.path) { usleep(50_000) }
        let listing = try String(contentsOf: fds, encoding: .utf8)
        #expect(listing.contains(" 0 -> /dev/null") && listing.contains(" 2 -> /dev/null"))
        #expect(!listing.contains("leak-marker"), "\(listing)")
        #expect(try String(contentsOf: dir.appendingPathComponent("env"), encoding: .utf8) == "bar unset\n")
        #expect(try String(contentsOf: dir.appendingPathComponent("stdin"), encoding: .utf8) == "/dev/null\n")
    }

    @Test func aMissingProgramIsReportedByEnvNotByUs() {
        // /usr/bin/env exists, so starting succeeds; env itself exits 127 and is reaped.
        #expect(ChildProcess.startDetached(["jira-auth-agent-no-such-program"], environment: [:]))
    }
}
