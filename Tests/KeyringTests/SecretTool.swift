import Foundation

/// Runs `secret-tool` (libsecret-tools) to cross-check the store against another client of
/// the same Secret Service.
enum SecretTool {
    struct Output: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static let schemaArguments = ["xdg:schema", "io.github.jira-auth-agent.Tokens"]

    /// `secret-tool ARGS…` with `input` on stdin; waits without blocking a concurrency thread.
    static func run(_ arguments: [String], input: String = "") async throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/secret-tool")
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        let status = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
                return
            }
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try? stdin.fileHandleForWriting.close()
        }
        return Output(
            status: status,
            stdout: String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            stderr: String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }
}
