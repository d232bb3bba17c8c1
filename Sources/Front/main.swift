// jira-auth-agent's front door: the installed `jira-auth-agent` command.
//
// `jira-auth-agent token` is run as a whole process, often in `$(…)` inside scripts, so its
// start-up is on the user's critical path (issue 4: median ≤ 3 ms). The full CLI links
// Foundation, SwiftNIO and libsecret's GLib stack, which alone take ~6 ms to load. This
// front links only the Swift standard library and Glibc: it answers the common case — a
// non-interactive `token` whose answer the agent has in memory — itself, and hands every
// other command, and every failure, to the full CLI with `execv` (same PID, same argv),
// so that messages, exit codes and `--help` come from one place.
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments

if arguments.count >= 2, arguments[1] == "token", let request = TokenRequest(arguments: Array(arguments.dropFirst(2))),
   let answer = request.fetch() {
    switch answer {
    case .token(let token):
        let line = request.line(for: token)
        _ = line.withCString { write(1, $0, strlen($0)) }
        exit(0)
    case .notReleased(let message):
        // The full CLI's format and exit status (77, EX_NOPERM) for this error.
        let line = "Error: " + message + "\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        exit(77)
    }
}
FullCLI.exec(arguments)
