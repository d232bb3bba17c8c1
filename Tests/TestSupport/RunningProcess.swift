public import Foundation

/// A command that keeps running while a test talks to it: stdout and stderr are collected
/// as they stream (`waitFor` watches them), stdin stays open for `send`. For interactive
/// CLI flows (device code, paste-back) where `Run.capture` would wait for the end.
public final class RunningProcess: @unchecked Sendable {
    public let process = Process()
    private let input = Pipe()
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    private let outPipe = Pipe(), errPipe = Pipe()

    /// - Parameters:
    ///   - env: overrides merged into this process's environment.
    ///   - removing: variables taken out of the child's environment (e.g. `DISPLAY`).
    public init(_ argv: [String], env: [String: String] = [:], removing: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = argv
        var environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        for key in removing { environment.removeValue(forKey: key) }
        process.environment = environment
        process.standardInput = input
        process.standardOutput = outPipe
        process.standardError = errPipe
        outPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; return }  // EOF
            self?.lock.withLock { self?.out.append(data) }
        }
        errPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; return }  // EOF
            self?.lock.withLock { self?.err.append(data) }
        }
        try process.run()
    }

    public var stdout: String { lock.withLock { String(decoding: out, as: UTF8.self) } }
    public var stderr: String { lock.withLock { String(decoding: err, as: UTF8.self) } }

    /// Waits until stdout + stderr satisfy `condition` (returns its non-nil value), the
    /// process exits, or `timeout` passes (nil).
    public func waitFor<T>(timeout: TimeInterval = 30, _ condition: (_ stdout: String, _ stderr: String) -> T?) -> T? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let value = condition(stdout, stderr) { return value }
            if !process.isRunning {
                Thread.sleep(forTimeInterval: 0.1)  // the last output may still be in the pipe
                return condition(stdout, stderr)
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return nil
    }

    /// Writes `text` to the child's stdin.
    public func send(_ text: String) {
        input.fileHandleForWriting.write(Data(text.utf8))
    }

    /// Closes stdin, waits up to `timeout` for the exit (then SIGKILL), and returns it all.
    public func finish(timeout: TimeInterval = 60) -> Run.Output {
        try? input.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        Thread.sleep(forTimeInterval: 0.1)
        outPipe.fileHandleForReading.readabilityHandler = nil
        errPipe.fileHandleForReading.readabilityHandler = nil
        return Run.Output(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    /// Waits for the exit without closing stdin first.
    public func wait(timeout: TimeInterval = 60) -> Run.Output {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return finish(timeout: 1)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
