// C-touching file (STYLE §8): GCancellable.
import CLibSecret
import Dispatch
import FoundationEssentials
import Synchronization

/// Runs blocking libsecret `…_sync` calls off the Swift concurrency pool, each within a time
/// bound (DESIGN §4: a Secret Service that owns its name but never answers blocks a sync call
/// for 50 s).
///
/// Calls run one at a time on a private serial dispatch queue, whose threads are not those of
/// the cooperative pool. A timer trips the call's `GCancellable` at the deadline, which makes
/// libsecret return `G_IO_ERROR_CANCELLED` at once; the caller is resumed at the deadline even
/// if the blocked thread has not come back yet. The deadline counts from the call's start; a
/// call waiting in the queue is let go after four times its bound, or when its task is
/// cancelled, and then does not run.
/// A call that timed out may still have reached the service (a store may have happened).
final class BoundedCaller: Sendable {
    private let queue = DispatchQueue(label: "io.github.jira-auth-agent.keyring")

    /// Runs `body` on the keyring queue with a fresh `Cancellation`. Throws
    /// `KeyringError.timedOut` at the deadline, `CancellationError` when the task is cancelled,
    /// and any other error as `body` threw it (non-`KeyringError`s become `.other`).
    func run<T: Sendable>(
        within timeout: Duration, connection: String?,
        _ body: @escaping @Sendable (Cancellation) throws -> T
    ) async throws -> T {
        let cancellation = Cancellation()
        let timedOut = KeyringError(code: .timedOut, connection: connection, timeout: timeout)
        let once = ResumeOnce<T>()
        // Waiting in the queue is bounded too, even behind a call whose thread never comes
        // back: four times the call's own bound from queueing, and a cancelled task is let go
        // at once. A call let go before it started does not run.
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Self.nanoseconds(timeout * 4))) {
            if cancellation.expireIfNotStarted() { once.resume(with: .failure(timedOut)) }
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                once.attach(continuation)
                queue.async {
                    guard cancellation.start() else { return }
                    // The bound counts from when the call starts, not while it waited behind
                    // another (issue 14): a save queued behind a slow read gets its whole
                    // bound. Not cancelled when the call returns first: then it trips a spent
                    // GCancellable and finds the continuation already resumed.
                    DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Self.nanoseconds(timeout))) {
                        cancellation.expire()
                        once.resume(with: .failure(timedOut))
                    }
                    let result: Result<T, any Error>
                    do {
                        result = .success(try body(cancellation))
                    } catch {
                        result = .failure(Self.attribute(error, cancellation, timedOut, connection))
                    }
                    once.resume(with: result)
                }
            }
        } onCancel: {
            if cancellation.cancelForTask() { once.resume(with: .failure(CancellationError())) }
        }
    }

    /// An error after our own cancellation is the cancellation's doing, whatever GLib called it.
    private static func attribute(
        _ error: any Error, _ cancellation: Cancellation, _ timedOut: KeyringError,
        _ connection: String?
    ) -> any Error {
        if cancellation.expired { return timedOut }
        if cancellation.cancelledByTask { return CancellationError() }
        if let error = error as? KeyringError { return error }
        let message = String(describing: type(of: error))
        return KeyringError(
            code: .other, underlying: .init(domain: "jira-auth-agent", code: 0, message: message),
            connection: connection)
    }

    private static func nanoseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        let total = Double(seconds) * 1e9 + Double(attoseconds) / 1e9
        return Int(min(max(total, 0), Double(Int.max / 2)))
    }
}

extension BoundedCaller {
    /// One call's `GCancellable`, tripped by the deadline or by task cancellation.
    final class Cancellation: @unchecked Sendable {
        /// Pass to libsecret; valid while this object lives. GCancellable is thread-safe.
        let pointer: UnsafeMutablePointer<GCancellable>
        private let state = Mutex<(expired: Bool, cancelledByTask: Bool, started: Bool)>((false, false, false))

        init() { pointer = g_cancellable_new() }
        deinit { g_object_unref(pointer) }

        var expired: Bool { state.withLock { $0.expired } }
        var cancelledByTask: Bool { state.withLock { $0.cancelledByTask } }

        /// The call begins; false when it was let go while it waited (then it must not run).
        func start() -> Bool {
            state.withLock { s in
                guard !s.expired, !s.cancelledByTask else { return false }
                s.started = true
                return true
            }
        }

        func expire() {
            state.withLock { $0.expired = true }
            g_cancellable_cancel(pointer)
        }

        /// Expires a call still waiting in the queue; true when it had not started.
        func expireIfNotStarted() -> Bool {
            state.withLock { s in
                guard !s.started else { return false }
                s.expired = true
                return true
            }
        }

        /// Cancels for the task; true when the call had not started (its caller goes now).
        func cancelForTask() -> Bool {
            let waiting = state.withLock { s -> Bool in
                s.cancelledByTask = true
                return !s.started
            }
            g_cancellable_cancel(pointer)
            return waiting
        }
    }

    /// Resumes a continuation exactly once: first come (result, deadline, cancellation), first
    /// served — also when that comes before the continuation exists.
    private final class ResumeOnce<T: Sendable>: @unchecked Sendable {
        private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, early: Result<T, any Error>?, done: Bool)>((nil, nil, false))

        init() {}

        func attach(_ continuation: CheckedContinuation<T, any Error>) {
            let early = state.withLock { s -> Result<T, any Error>? in
                if let early = s.early { s.early = nil; return early }
                s.continuation = continuation
                return nil
            }
            if let early { continuation.resume(with: early) }
        }

        func resume(with result: Result<T, any Error>) {
            let pending = state.withLock { s -> CheckedContinuation<T, any Error>? in
                guard !s.done else { return nil }
                s.done = true
                guard let continuation = s.continuation else { s.early = result; return nil }
                s.continuation = nil
                return continuation
            }
            pending?.resume(with: result)
        }
    }
}
