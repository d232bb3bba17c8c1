public import Agent
public import Foundation

/// A `WallClock` that moves only when a test says so (STYLE §9; HummingbirdTesting's
/// `MockClock`). `now()` returns the time last set; `sleep(until:)` suspends until
/// `advance(to:)` or `advance(by:)` reaches the deadline, or until the sleeping task is
/// cancelled (then it throws `CancellationError`, as `SystemWallClock` does).
///
/// Setting the time backwards is allowed — a wall clock can be set back — and wakes nobody.
public final class ManualClock: WallClock, @unchecked Sendable {
    // @unchecked: every stored property below is guarded by `lock`.
    private let lock = NSLock()
    private var current: Date
    private var sleepers: [UUID: (deadline: Date, continuation: CheckedContinuation<Void, any Error>)] = [:]

    public init(now: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        self.current = now
    }

    public func now() -> Date {
        lock.withLock { current }
    }

    public func sleep(until deadline: Date) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = lock.withLock {
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if deadline <= current { return .success(()) }
                    sleepers[id] = (deadline, continuation)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let continuation = lock.withLock { sleepers.removeValue(forKey: id)?.continuation }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Sets the time to `date` and wakes every sleeper whose deadline has been reached.
    public func advance(to date: Date) {
        let woken: [CheckedContinuation<Void, any Error>] = lock.withLock {
            current = date
            let due = sleepers.filter { $0.value.deadline <= date }
            for key in due.keys { sleepers[key] = nil }
            return due.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume() }
    }

    public func advance(by interval: TimeInterval) {
        advance(to: now().addingTimeInterval(interval))
    }

    /// The deadlines of the sleeps in progress, earliest first.
    public var pendingDeadlines: [Date] {
        lock.withLock { sleepers.values.map(\.deadline).sorted() }
    }
}
