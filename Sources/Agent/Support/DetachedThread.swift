import CAgentSystem
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a new detached thread named `name` (at most 15 bytes show in `ps`): for
/// work that blocks in the kernel (a timerfd wait) and so must not occupy a thread of the
/// concurrency pool or of Dispatch. `false` when no thread could be created.
@discardableResult
func runOnDetachedThread(name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
    final class Job {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) { self.name = name; self.body = body }
    }
    let job = Unmanaged.passRetained(Job(name: name, body: body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    var thread = pthread_t()
    let started = pthread_create(&thread, &attributes, { raw in
        let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
        _ = prctl_set_name(job.name)
        job.body()
        return nil
    }, job)
    if started != 0 { Unmanaged<Job>.fromOpaque(job).release() }
    return started == 0
}

/// Names the calling thread (`ps -L`, `top -H`); the kernel keeps 15 bytes.
private func prctl_set_name(_ name: String) -> Int32 {
    csystem_set_thread_name(name)
}
