#if canImport(Glibc)
import Glibc
#endif

/// Replaces this process with the full CLI, `jira-auth-agent-full`, found next to this
/// executable (a build directory) or in `../libexec/jira-auth-agent/` (an installation).
enum FullCLI {
    static func exec(_ arguments: [String]) -> Never {
        let directory = executableDirectory()
        let candidates = [directory + "/jira-auth-agent-full", directory + "/../libexec/jira-auth-agent/jira-auth-agent-full"]
        for path in candidates where access(path, X_OK) == 0 {
            var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
            argv.append(nil)
            execv(path, &argv)
        }
        let message = "Error: the jira-auth-agent installation is incomplete: jira-auth-agent-full was not found in \(candidates.joined(separator: " or ")). Reinstall with `make install`.\n"
        _ = message.withCString { write(2, $0, strlen($0)) }
        exit(70)
    }

    /// The directory of /proc/self/exe.
    static func executableDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return "." }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }
}
