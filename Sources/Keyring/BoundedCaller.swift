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
/// if the blocked thread has not come back yet. The deadline counts from the call's start: a
/// caller waits at most its own bound plus those of the calls queued ahead of it.
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
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let once = ResumeOnce(continuation)
                queue.async {
                    // The bound counts from when the call starts, not while it waited behind
                    // another (issue 14): a save queued behind a slow read gets its whole
                    // bound. Waiting stays bounded too, since each call ahead ends at its own
                    // deadline. Not cancelled when the call returns first: then it trips a
                    // spent GCancellable and finds the continuation already resumed.
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
            cancellation.cancelForTask()
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
        private let state = Mutex<(expired: Bool, cancelledByTask: Bool)>((false, false))

        init() { pointer = g_cancellable_new() }
        deinit { g_object_unref(pointer) }

        var expired: Bool { state.withLock { $0.expired } }
        var cancelledByTask: Bool { state.withLock { $0.cancelledByTask } }

        func expire() {
            state.withLock { $0.expired = true }
            g_cancellable_cancel(pointer)
        }

        func cancelForTask() {
            state.withLock { $0.cancelledByTask = true }
            g_cancellable_cancel(pointer)
        }
    }

    /// Resumes a continuation exactly once: first come (result or deadline), first served.
    private final class ResumeOnce<T: Sendable>: @unchecked Sendable {
        private let continuation: Mutex<CheckedContinuation<T, any Error>?>

        init(_ continuation: CheckedContinuation<T, any Error>) { self.continuation = Mutex(continuation) }

        func resume(with result: Result<T, any Error>) {
            let pending = continuation.withLock { pending -> CheckedContinuation<T, any Error>? in
                defer { pending = nil }
                return pending
            }
            pending?.resume(with: result)
        }
    }
}
