import CAgentSystem
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The proxy's TCP listener and its fast lane (issue 5, "Performance"): one thread with an
/// epoll loop of its own serves the common request — a `GET` without a body, for a
/// connection whose upstream is plain HTTP at a numeric address, with a cached token — and
/// hands every other connection, at a request boundary and before anything of that request
/// went upstream, to the channel path (`ProxyServerHandler` on NIO), which serves it from
/// then on.
///
/// Why: on NIO's channels each request cost 6–7 µs of user time and two event loops' worth
/// of wake-ups, and the proxy's added p50 stayed 4–6 % behind nginx's; the same per-request
/// code (the parsers, `RequestScreen`, `ProxyRoute`, `HopByHopHeaders`, `ProxyMessages`,
/// `LinkRewriter`) on one plain loop costs about nginx's user time. Everything the fast
/// lane does not do — request bodies, token fetches and authorization, refresh and retry
/// after a 401 `invalid_token`, TLS, name resolution, HTTP/1.0, `Connection: close`,
/// refusals of every kind — stays in one place, the channel path, which also serves the
/// Unix socket.
///
/// What both paths share they decide alike: the peer's uid is checked at accept (SECURITY
/// S8), every request is screened (S9) before the fast lane takes it, and a request whose
/// token the upstream refused (401 `invalid_token`) moves to the channel path with that
/// token named, which refreshes it and sends the request — a `GET` — once more, as it does
/// for its own.
final class FastLane: Sendable {
    /// A connection moving to the channel path: the socket and the port it was accepted
    /// on (its requests are screened as requests to that port), what was read from it and
    /// not yet served (from the start of the next request), what was meant for it and not
    /// yet written, and the token the upstream refused for that next request (and for
    /// which connection), if it did.
    struct Handoff: Sendable {
        let fd: Int32
        let port: Int
        let unread: ByteBuffer?
        let unwritten: ByteBuffer?
        let peer: PeerCredentials
        let rejected: (connection: String, token: String)?
    }

    let port: Int
    let listener: Int32
    let wake: Int32
    let proxy: JiraProxy
    let allowedUID: UInt32
    let handoff: @Sendable (Handoff) -> Void
    /// Requests the fast lane answered from the upstream; connections it handed over, and
    /// of those the ones with answers still queued (`make bench` and the tests read them).
    let served = Atomic<Int>(0)
    let handedOff = Atomic<Int>(0)
    let handedOffWithAnswersQueued = Atomic<Int>(0)
    var counts: (served: Int, handedOff: Int, withAnswersQueued: Int) {
        (served.load(ordering: .relaxed), handedOff.load(ordering: .relaxed), handedOffWithAnswersQueued.load(ordering: .relaxed))
    }
    let stopping = Atomic<Bool>(false)
    let grace = NIOLockedValueBox<TimeAmount>(.seconds(10))
    private let finished = NIOLockedValueBox<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Binds `127.0.0.1:port` (0: a free port).
    init(port: Int, proxy: JiraProxy, allowedUID: UInt32, handoff: @escaping @Sendable (Handoff) -> Void) throws(AgentError) {
        let fd = csystem_tcp_listen_loopback(Int32(port), 256)
        guard fd >= 0 else {
            let code = errno
            throw AgentError(.internalError, code == EADDRINUSE
                ? "port \(port) on 127.0.0.1 is in use: stop the other program or choose another with serve --proxy-port"
                : "could not listen on 127.0.0.1:\(port) (errno \(code))")
        }
        let wake = csystem_eventfd()
        guard wake >= 0 else {
            close(fd)
            throw AgentError(.internalError, "could not create an eventfd (errno \(errno))")
        }
        self.listener = fd
        self.wake = wake
        self.port = Int(csystem_local_port(fd))
        self.proxy = proxy
        self.allowedUID = allowedUID
        self.handoff = handoff
    }

    /// Starts the loop's thread.
    func start() throws(AgentError) {
        let started = runOnDetachedThread(name: "jaa-fast-lane") { [self] in
            let loop = FastLaneLoop(lane: self)
            loop.run()
            finish()
        }
        guard started else {
            close(listener)
            throw AgentError(.internalError, "could not start the proxy's thread")
        }
    }

    /// Stops accepting; the requests in flight finish (bounded by `grace`), idle connections
    /// close, then the loop ends. Nothing is handed to the channel path from the call on.
    func requestStop(grace: TimeAmount) {
        self.grace.withLockedValue { $0 = grace }
        stopping.store(true, ordering: .releasing)
        _ = csystem_eventfd_signal(wake)  // (open until deinit, so never another descriptor)
    }

    /// Returns once the loop has ended.
    func stopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = finished.withLockedValue { state -> Bool in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    func stop(grace: TimeAmount) async {
        requestStop(grace: grace)
        await stopped()
    }

    /// (The loop has closed the listener.)
    private func finish() {
        let waiters = finished.withLockedValue { state in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    deinit { close(wake) }
}

extension SocketAddress {
    /// The peer (`remote`) or own (`!remote`) address of a socket.
    static func of(fd: Int32, remote: Bool) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                remote ? getpeername(fd, sa, &length) == 0 : getsockname(fd, sa, &length) == 0
            }
        }
        guard ok else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            let v4 = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self) }
            return SocketAddress(v4, host: "")
        case AF_INET6:
            let v6 = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self) }
            return SocketAddress(v6, host: "")
        default:
            return nil
        }
    }
}
