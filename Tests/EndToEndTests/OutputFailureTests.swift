import Foundation
import Testing
import TestSupport

/// A command whose output is lost does not report success (README, exit codes: 74).
@Suite struct OutputFailureTests {
    @Test func outputToAFullDeviceExitsWithEXIOERR() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["XDG_CONFIG_HOME": dir.path, "XDG_CONFIG_DIRS": dir.appendingPathComponent("none").path]
        let ok = try Run.capture([Stack.binary, "connections", "list"], env: env)
        #expect(ok.status == 0)
        #expect(ok.stdout.contains("No connections configured."))
        let full = try Run.capture(["sh", "-c", "exec \"$0\" connections list > /dev/full", Stack.binary], env: env)
        #expect(full.status == 74, "\(full.stderr)")
        #expect(full.stderr.contains("could not be written"))
    }
}
