public import FoundationEssentials
import CAgentSystem
import Glibc

/// Time as the agent sees it: "now" and a sleep until an absolute wall-clock instant.
/// Injected so that tests can drive time by hand (STYLE §6).
public protocol WallClock: Sendable {
    func now() -> Date
    /// Returns at `deadline` (or at once if it has passed); throws `CancellationError`.
    func sleep(until deadline: Date) async throws
}

/// The real clock. Sleeps on a `timerfd` armed with an absolute `CLOCK_REALTIME`
/// deadline, so a timer fires on wake-up after a suspend longer than the wait, and
/// after the clock is set forward (DESIGN §5) — a monotonic sleep would not.
/// One blocked thread per pending sleep: an idle agent makes no wake-ups at all.
public struct SystemWallClock: WallClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until deadline: Date) async throws {
        // Clamped (S10): a corrupt keyring item must not trap the conversion below.
        let t = min(max(deadline.timeIntervalSince1970, 0), 1e12)
        let whole = t.rounded(.down)
        let fd = csystem_realtime_timer_at(Int64(whole), Int((t - whole) * 1e9))
        guard fd >= 0 else {
            try await Task.sleep(for: .seconds(max(0, deadline.timeIntervalSinceNow)))
            return
        }
        defer { close(fd) }
        let waited = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let started = runOnDetachedThread(name: "jaa-timer") {
                    _ = csystem_timer_wait(fd)
                    continuation.resume(returning: true)
                }
                if !started { continuation.resume(returning: false) }
            }
        } onCancel: {
            _ = csystem_timer_fire_now(fd)
        }
        if !waited {  // no thread for the timerfd: a monotonic sleep is the best left
            try await Task.sleep(for: .seconds(max(0, deadline.timeIntervalSinceNow)))
        }
        try Task.checkCancellation()
    }
}
