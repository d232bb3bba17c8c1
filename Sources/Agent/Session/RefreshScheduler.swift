public import FoundationEssentials
import NIOConcurrencyHelpers
public import ServiceLifecycle

/// The agent's one timer (DESIGN §5): every session's next wake-up (`SessionMachine.wakeUp`),
/// slept on as one absolute wall-clock deadline — `SystemWallClock` sleeps on a `timerfd`,
/// so it fires after a suspend — and re-armed when an earlier one arrives. An idle agent
/// sleeps on its earliest refresh and makes no other wake-up; a hundred connections cost one
/// sleeping thread, not a hundred.
public final class RefreshScheduler: Service, Sendable {
    public typealias Fire = @Sendable () async -> Void

    private struct State {
        var entries: [ObjectIdentifier: (at: Date, fire: Fire)] = [:]
        /// The run loop waiting for the next deadline or a change.
        var waiter: CheckedContinuation<Void, Never>?
        /// A change arrived while the loop was not waiting.
        var changed = false
        var stopped = false
    }

    private let clock: any WallClock
    private let state = NIOLockedValueBox(State())

    public init(clock: any WallClock) {
        self.clock = clock
    }

    /// Sets `owner`'s wake-up to `at`, or clears it with `nil`. `fire` runs once, at `at`.
    public func schedule(_ owner: ObjectIdentifier, at: Date?, fire: @escaping Fire) {
        state.withLockedValue { state in
            if let at { state.entries[owner] = (at, fire) } else { state.entries[owner] = nil }
        }
        wake()
    }

    /// The earliest deadline (tests and `status` read it).
    public var nextWakeUp: Date? {
        state.withLockedValue { $0.entries.values.map(\.at).min() }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await loop()
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Ends `run()`.
    public func stop() {
        state.withLockedValue { $0.stopped = true }
        wake()
    }

    private func loop() async {
        while !Task.isCancelled, !state.withLockedValue({ $0.stopped }) {
            fireDue()
            let next = nextWakeUp
            let clock = self.clock
            let sleeper = next.map { deadline in
                Task { [weak self] in
                    do { try await clock.sleep(until: deadline) } catch { return }
                    self?.wake()
                }
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLockedValue { state -> Bool in
                        if state.changed || state.stopped { state.changed = false; return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                self.wake()
            }
            sleeper?.cancel()
        }
    }

    /// Runs every entry whose time has come, each in a task of its own (a session busy with
    /// its keyring holds up no other).
    private func fireDue() {
        let now = clock.now()
        let due: [Fire] = state.withLockedValue { state in
            let keys = state.entries.filter { $0.value.at <= now }.map(\.key)
            return keys.compactMap { state.entries.removeValue(forKey: $0)?.fire }
        }
        for fire in due { Task { await fire() } }
    }

    private func wake() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else { state.changed = true; return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }
}
