import Foundation
import Testing
import Agent
import TestSupport

/// `SystemWallClock` (timerfd on CLOCK_REALTIME) and the `ManualClock` double honour the
/// same `WallClock` contract (STYLE §10). Elapsed times are measured on the monotonic
/// clock; upper bounds are generous, so only a hang fails them.
@Suite struct WallClockTests {
    @Test(.timeLimit(.minutes(1)))
    func systemClockSleepsUntilTheDeadline() async throws {
        let clock = SystemWallClock()
        let deadline = clock.now().addingTimeInterval(0.2)
        let start = ContinuousClock.now
        try await clock.sleep(until: deadline)
        let elapsed = ContinuousClock.now - start
        #expect(Date() >= deadline)
        #expect(elapsed >= .milliseconds(190), "returned after \(elapsed)")
        #expect(elapsed < .seconds(10))
    }

    @Test(.timeLimit(.minutes(1)))
    func systemClockReturnsAtOnceForAPastDeadline() async throws {
        let clock = SystemWallClock()
        let start = ContinuousClock.now
        try await clock.sleep(until: clock.now().addingTimeInterval(-30))
        try await clock.sleep(until: Date(timeIntervalSince1970: 0))
        try await clock.sleep(until: .distantPast)
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test(.timeLimit(.minutes(1)))
    func systemClockSleepEndsPromptlyOnCancellation() async throws {
        let clock = SystemWallClock()
        let start = ContinuousClock.now
        let sleeper = Task { try await clock.sleep(until: clock.now().addingTimeInterval(3600)) }
        try await Task.sleep(for: .milliseconds(50))
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test(.timeLimit(.minutes(1)))
    func systemClockCancelledBeforeSleepingReturnsAtOnce() async throws {
        let clock = SystemWallClock()
        let sleeper = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await clock.sleep(until: clock.now().addingTimeInterval(3600))
        }
        await #expect(throws: CancellationError.self) { try await sleeper.value }
    }

    // MARK: ManualClock, the double other tests rely on

    @Test(.timeLimit(.minutes(1)))
    func manualClockSleepsUntilAdvancedPastTheDeadline() async throws {
        let clock = ManualClock()
        let start = clock.now()
        let deadline = start.addingTimeInterval(300)
        let sleeper = Task { try await clock.sleep(until: deadline) }
        while clock.pendingDeadlines.isEmpty { await Task.yield() }
        #expect(clock.pendingDeadlines == [deadline])
        clock.advance(by: 299)
        #expect(clock.pendingDeadlines == [deadline])  // not yet
        clock.advance(to: deadline)
        try await sleeper.value
        #expect(clock.now() == deadline)
        #expect(clock.pendingDeadlines.isEmpty)
    }

    @Test(.timeLimit(.minutes(1)))
    func manualClockSetBackWakesNobody() async throws {
        let clock = ManualClock()
        let start = clock.now()
        let sleeper = Task { try await clock.sleep(until: start.addingTimeInterval(10)) }
        while clock.pendingDeadlines.isEmpty { await Task.yield() }
        clock.advance(to: start.addingTimeInterval(-3600))
        #expect(clock.pendingDeadlines.count == 1)
        clock.advance(to: start.addingTimeInterval(11))
        try await sleeper.value
    }

    @Test(.timeLimit(.minutes(1)))
    func manualClockPastDeadlineAndCancellation() async throws {
        let clock = ManualClock()
        try await clock.sleep(until: clock.now())
        try await clock.sleep(until: .distantPast)
        let sleeper = Task { try await clock.sleep(until: clock.now().addingTimeInterval(60)) }
        while clock.pendingDeadlines.isEmpty { await Task.yield() }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.pendingDeadlines.isEmpty)
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await clock.sleep(until: clock.now().addingTimeInterval(60))
        }
        await #expect(throws: CancellationError.self) { try await early.value }
        #expect(clock.pendingDeadlines.isEmpty)
    }
}
