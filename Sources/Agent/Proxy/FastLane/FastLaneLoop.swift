import CAgentSystem
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The fast lane's event loop (`FastLane` says what it serves and why). Level-triggered
/// epoll; everything here runs on the lane's one thread (hence `@exclusivity(unchecked)`,
/// FastLaneConnections.swift says why).
final class FastLaneLoop {
    let lane: FastLane
    let proxy: JiraProxy
    let configuration: ProxyConfiguration
    let ep: Int32
    let allocator = ByteBufferAllocator()
    let listenerKind: ListenerKind
    /// Indexed by descriptor.
    @exclusivity(unchecked) var clients: [FastClient?] = []
    @exclusivity(unchecked) var upstreams: [FastUpstream?] = []
    @exclusivity(unchecked) var clientCount = 0
    /// Idle upstream connections by `UpstreamTarget.poolKey`.
    @exclusivity(unchecked) var pools: [String: FastPool] = [:]
    @exclusivity(unchecked) var idleCount = 0
    @exclusivity(unchecked) var nextGeneration: UInt32 = 1
    @exclusivity(unchecked) var now = NIODeadline.coarseNow()
    @exclusivity(unchecked) var lastSweep = NIODeadline.coarseNow()
    let sweepPeriod: TimeAmount
    @exclusivity(unchecked) var draining = false
    @exclusivity(unchecked) var drainDeadline: NIODeadline?
    @exclusivity(unchecked) var listening = true
    @exclusivity(unchecked) var listenerClosed = false
    /// Where the last route name led while the catalog is the same revision.
    @exclusivity(unchecked) var routeCache: (name: String, revision: ConnectionCatalog.Revision, target: UpstreamTarget, address: String?, pool: FastPool)?
    @exclusivity(unchecked) var bearers = BearerCache()
    @exclusivity(unchecked) var rewriters = RewriterCache()
    var logger: Logger { proxy.logger }

    /// Client answers queued beyond this stop reads from the upstream until they drain.
    static let highWater = 256 * 1024
    /// Pipelined bytes read ahead of the request being served beyond this stop reads.
    static let readAhead = 64 * 1024
    static let clientReadSize = 4096
    static let upstreamReadSize = 16 * 1024

    init(lane: FastLane) {
        self.lane = lane
        self.proxy = lane.proxy
        self.configuration = lane.proxy.configuration
        self.listenerKind = .tcp(port: lane.port)
        self.ep = csystem_epoll_create()
        let c = configuration
        let shortest = min(c.clientIdleTimeout, c.upstreamResponseTimeout, c.stallTimeout, c.upstreamConnectTimeout, c.upstreamIdleTimeout)
        sweepPeriod = max(.milliseconds(10), min(.seconds(1), .nanoseconds(shortest.nanoseconds / 4)))
    }

    // MARK: The loop

    func run() {
        guard ep >= 0 else {
            logger.error("the proxy's fast lane could not create an epoll instance", metadata: ["errno": "\(errno)"])
            closeListener()
            return
        }
        defer { close(ep) }
        _ = csystem_epoll_control(ep, 1, lane.listener, CSYSTEM_EPOLL_IN, FastLaneToken.make(kind: FastLaneToken.listener, fd: lane.listener, generation: 0))
        _ = csystem_epoll_control(ep, 1, lane.wake, CSYSTEM_EPOLL_IN, FastLaneToken.make(kind: FastLaneToken.wake, fd: lane.wake, generation: 0))
        var data = [UInt64](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        let periodMs = Int32(max(1, sweepPeriod.nanoseconds / 1_000_000))
        while true {
            let n = csystem_epoll_wait(ep, &data, &events, 64, clientCount > 0 || idleCount > 0 || draining || !listening ? periodMs : -1)
            if n < 0, errno != EINTR {
                logger.error("the proxy's fast lane stopped: epoll_wait failed", metadata: ["errno": "\(errno)"])
                break
            }
            now = .coarseNow()
            for i in 0..<Int(max(0, n)) {
                let (kind, fd, generation) = FastLaneToken.parts(data[i])
                let ready = events[i]
                switch kind {
                case FastLaneToken.listener: accept()
                case FastLaneToken.wake:
                    csystem_eventfd_drain(lane.wake)
                    if lane.stopping.load(ordering: .acquiring) { beginDrain() }
                case FastLaneToken.client:
                    guard let client = client(fd, generation) else { continue }
                    clientReady(client, ready)
                default:
                    guard let upstream = upstream(fd, generation) else { continue }
                    upstreamReady(upstream, ready)
                }
            }
            if now - lastSweep >= sweepPeriod {
                lastSweep = now
                sweep()
            }
            if draining, clientCount == 0 { break }
        }
        for client in clients.compactMap({ $0 }) { closeClient(client) }
        for upstream in upstreams.compactMap({ $0 }) { closeUpstream(upstream) }
        closeListener()
    }

    func client(_ fd: Int32, _ generation: UInt32) -> FastClient? {
        guard fd >= 0, Int(fd) < clients.count, let c = clients[Int(fd)], c.generation == generation else { return nil }
        return c
    }

    func upstream(_ fd: Int32, _ generation: UInt32) -> FastUpstream? {
        guard fd >= 0, Int(fd) < upstreams.count, let u = upstreams[Int(fd)], u.generation == generation else { return nil }
        return u
    }

    func generation() -> UInt32 {
        nextGeneration = nextGeneration &+ 1
        return nextGeneration & 0xFF_FFFF
    }

    func setInterest(client c: FastClient, _ events: UInt32) {
        guard c.interest != events else { return }
        c.interest = events
        _ = csystem_epoll_control(ep, 3, c.fd, events, FastLaneToken.make(kind: FastLaneToken.client, fd: c.fd, generation: c.generation))
    }

    func setInterest(upstream u: FastUpstream, _ events: UInt32) {
        guard u.interest != events else { return }
        u.interest = events
        _ = csystem_epoll_control(ep, 3, u.fd, events, FastLaneToken.make(kind: FastLaneToken.upstream, fd: u.fd, generation: u.generation))
    }

    // MARK: Accepting

    func accept() {
        for _ in 0..<64 {
            let fd = csystem_tcp_accept(lane.listener)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK {
                    // Out of descriptors (EMFILE, ENFILE) or memory: the pending connection
                    // stays ready, so accepting pauses until the next sweep rather than spin.
                    logger.warning("accept failed; pausing new connections", metadata: ["errno": "\(errno)"])
                    pauseAccepting()
                }
                return
            }
            // The client's row in /proc/net/tcp carries its uid; no row, no service (S8).
            guard let remote = SocketAddress.of(fd: fd, remote: true), let local = SocketAddress.of(fd: fd, remote: false),
                  let uid = ProcNetTCP.ownerUID(client: remote, server: local), uid == lane.allowedUID
            else {
                logger.info("refused a TCP connection from another user")
                close(fd)
                continue
            }
            let c = FastClient(fd: fd, generation: generation(), peer: PeerCredentials(uid: uid),
                               maxHeadSize: configuration.maxHeaderSize, now: now)
            if Int(fd) >= clients.count { clients += Array(repeating: nil, count: Int(fd) + 64 - clients.count) }
            clients[Int(fd)] = c
            clientCount += 1
            c.interest = CSYSTEM_EPOLL_IN
            guard csystem_epoll_control(ep, 1, fd, CSYSTEM_EPOLL_IN, FastLaneToken.make(kind: FastLaneToken.client, fd: fd, generation: c.generation)) == 0 else {
                logger.warning("a connection could not be watched; closed", metadata: ["errno": "\(errno)"])
                closeClient(c)
                continue
            }
        }
    }

    func closeListener() {
        guard !listenerClosed else { return }
        listenerClosed = true
        close(lane.listener)
    }

    func pauseAccepting() {
        guard listening else { return }
        listening = false
        _ = csystem_epoll_control(ep, 2, lane.listener, 0, 0)
    }

    func resumeAccepting() {
        guard !listening, !draining else { return }
        listening = true
        _ = csystem_epoll_control(ep, 1, lane.listener, CSYSTEM_EPOLL_IN, FastLaneToken.make(kind: FastLaneToken.listener, fd: lane.listener, generation: 0))
    }

    // MARK: Time and shutdown

    /// The limits, checked every `sweepPeriod`: an idle client or an incomplete request head
    /// after `clientIdleTimeout`; a connect after `upstreamConnectTimeout` (504); no response
    /// head after `upstreamResponseTimeout` (504); a transfer with no progress after
    /// `stallTimeout`; a lingering close after `stallTimeout`; idle upstream connections
    /// after `upstreamIdleTimeout`. The same limits as the channel path's.
    func sweep() {
        let c = configuration
        resumeAccepting()
        for client in clients {
            guard let client else { continue }
            let quiet = now - client.lastActivity
            if client.lingering {
                if quiet >= c.stallTimeout { closeClient(client) }
                continue
            }
            guard let x = client.exchange else {
                if quiet >= c.clientIdleTimeout { closeClient(client) }
                continue
            }
            switch x.phase {
            case .waiting:
                if let u = x.upstream, u.connecting, now - u.opened >= c.upstreamConnectTimeout {
                    logger.info("upstream connect failed", metadata: ["connection": "\(x.target.connectionID)", "error": "timeout"])
                    answer(client, .upstreamUnreachable(x.target, timedOut: true), close: false)
                } else if quiet >= c.upstreamResponseTimeout {
                    answer(client, .upstreamTimeout, close: true)
                }
            case .buffering:
                if quiet >= c.stallTimeout { answer(client, .upstreamTimeout, close: true) }
            case .streaming:
                if quiet >= c.stallTimeout { closeClient(client) }
            }
        }
        for pool in pools.values {
            for u in pool.idle where now - u.idleSince >= c.upstreamIdleTimeout { closeUpstream(u) }
        }
        if let deadline = drainDeadline, now >= deadline {
            for client in clients.compactMap({ $0 }) { closeClient(client) }
        }
    }

    /// Graceful shutdown: no new connections; idle ones close now, the others after their
    /// current response (bounded by the grace period).
    func beginDrain() {
        guard !draining else { return }
        draining = true
        drainDeadline = now + lane.grace.withLockedValue { $0 }
        pauseAccepting()
        // New connections are refused now, not left in the backlog.
        closeListener()
        for client in clients.compactMap({ $0 }) {
            client.closeAfterResponse = true
            // Between requests: closed once its answers are out (at once when there are none).
            if client.exchange == nil { lingerOrClose(client) }
        }
        for pool in pools.values { for u in pool.idle { closeUpstream(u) } }
    }
}

extension String {
    /// A numeric IPv4 or IPv6 address: the fast lane connects to these itself; a name
    /// would need a resolver, and goes the channel path.
    var isNumericAddress: Bool {
        var address = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET, self, &address) == 1 || inet_pton(AF_INET6, self, &address) == 1
    }
}
