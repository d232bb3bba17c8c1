public import Foundation
import NIOConcurrencyHelpers

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
    /// Entered once per pipe, left at that pipe's end of file: done when all output is in.
    private let drained = DispatchGroup()

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
        for (pipe, isOut) in [(outPipe, true), (errPipe, false)] {
            drained.enter()
            let drained = drained
            let atEOF = NIOLockedValueBox(false)
            pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                if data.isEmpty {  // EOF: the child (and anything it passed the pipe to) is done writing
                    handle.readabilityHandler = nil
                    let first = atEOF.withLockedValue { ended -> Bool in defer { ended = true }; return !ended }
                    if first { drained.leave() }
                    return
                }
                guard let self else { return }
                self.lock.withLock { if isOut { self.out.append(data) } else { self.err.append(data) } }
            }
        }
        do {
            try process.run()
        } catch {
            outPipe.fileHandleForReading.readabilityHandler = nil
            errPipe.fileHandleForReading.readabilityHandler = nil
            throw error
        }
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
                waitForOutputEnd(timeout: 10)  // the last output may still be in the pipes
                return condition(stdout, stderr)
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return nil
    }

    /// Waits until both pipes reached end of file (everything the child wrote has been
    /// collected), at most `timeout` seconds: a grandchild holding a pipe open must not hang
    /// the test.
    @discardableResult
    private func waitForOutputEnd(timeout: TimeInterval) -> Bool {
        drained.wait(timeout: .now() + timeout) == .success
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
        waitForOutputEnd(timeout: 10)
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
