import CAgentSystem
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Programs the agent starts and does not wait for: the browser and `gdbus` for
/// notifications. stdio goes to /dev/null, no other descriptor is inherited, the child
/// runs in a session of its own, and a detached thread reaps it so that no zombie is left.
enum ChildProcess {
    /// Starts `/usr/bin/env ARGUMENTS…` (so the first word is looked up on `PATH`) with
    /// exactly `environment`. `false` when it could not be started.
    @discardableResult
    static func startDetached(_ arguments: [String], environment: [String: String]) -> Bool {
        let argv = ["/usr/bin/env"] + arguments
        let envp = environment.map { "\($0.key)=\($0.value)" }
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnvp = envp.map { strdup($0) } + [nil]
        defer {
            for p in cArgv { free(p) }
            for p in cEnvp { free(p) }
        }
        let pid = csystem_spawn("/usr/bin/env", cArgv, cEnvp)
        guard pid > 0 else { return false }
        let reap: @Sendable () -> Void = {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        // One small thread per running child (the browser may live long); Dispatch if no
        // thread can be made, so that no zombie is left either way.
        if !runOnDetachedThread(name: "jaa-reaper", reap) { DispatchQueue.global().async(execute: reap) }
        return true
    }
}
