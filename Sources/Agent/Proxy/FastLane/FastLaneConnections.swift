import CAgentSystem
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

// The fast lane's state lives on its one thread and is touched by one function at a time,
// so its stored properties are `@exclusivity(unchecked)`: Swift's run-time check of
// overlapping accesses to class properties cost about 0.3 µs of the lane's ~3 µs of user
// time per request (the lane's tests passed with the checks on before they were dropped).

/// What the loop registers with epoll: the event's data names the kind, the descriptor and
/// a generation, so an event read in the same batch as a close never reaches the
/// connection that reuses the descriptor.
enum FastLaneToken {
    static let listener: UInt64 = 0
    static let wake: UInt64 = 1
    static let client: UInt64 = 2
    static let upstream: UInt64 = 3

    static func make(kind: UInt64, fd: Int32, generation: UInt32) -> UInt64 {
        UInt64(UInt32(bitPattern: fd)) | kind << 32 | UInt64(generation & 0xFF_FFFF) << 40
    }

    static func parts(_ data: UInt64) -> (kind: UInt64, fd: Int32, generation: UInt32) {
        (data >> 32 & 0xFF, Int32(bitPattern: UInt32(truncatingIfNeeded: data)), UInt32(data >> 40))
    }
}

/// A client connection of the fast lane.
final class FastClient {
    let fd: Int32
    let generation: UInt32
    let peer: PeerCredentials
    @exclusivity(unchecked) var requests: ClientRequestParser
    @exclusivity(unchecked) var exchange: FastExchange?
    @exclusivity(unchecked) var output = OutputQueue()
    @exclusivity(unchecked) var lastActivity: NIODeadline
    /// The events registered with epoll.
    @exclusivity(unchecked) var interest: UInt32 = 0
    /// Reading is held back: pipelined bytes beyond a bound while a request is served.
    @exclusivity(unchecked) var readsHeld = false
    /// Only the agent's side is closed (after its last answer): input is read and dropped
    /// until the client closes (a lingering close, RFC 9112 §9.6).
    @exclusivity(unchecked) var lingering = false
    /// The connection ends after the current response (shutdown, or an answer that says so).
    @exclusivity(unchecked) var closeAfterResponse = false
    /// `serveRequests` is running further up the stack (an answer given inside it loops
    /// there rather than recursing).
    @exclusivity(unchecked) var serving = false

    init(fd: Int32, generation: UInt32, peer: PeerCredentials, maxHeadSize: Int, now: NIODeadline) {
        self.fd = fd
        self.generation = generation
        self.peer = peer
        self.requests = ClientRequestParser(maxHeadSize: maxHeadSize)
        self.lastActivity = now
    }
}

/// The idle connections to one upstream, most recently used last (LIFO keeps few warm).
final class FastPool {
    @exclusivity(unchecked) var idle: [FastUpstream] = []
}

/// A connection to an upstream (plain HTTP), pooled between requests.
final class FastUpstream {
    let fd: Int32
    let generation: UInt32
    let pool: FastPool
    @exclusivity(unchecked) var responses: UpstreamResponseParser
    @exclusivity(unchecked) var output = OutputQueue()
    @exclusivity(unchecked) var connecting: Bool
    @exclusivity(unchecked) var interest: UInt32 = 0
    /// The client whose exchange it serves; `nil` while pooled.
    @exclusivity(unchecked) var client: FastClient?
    @exclusivity(unchecked) var idleSince: NIODeadline
    /// When the connection was opened (the connect timeout counts from here).
    let opened: NIODeadline

    init(fd: Int32, generation: UInt32, pool: FastPool, connecting: Bool, maxHeadSize: Int, now: NIODeadline) {
        self.fd = fd
        self.generation = generation
        self.pool = pool
        self.connecting = connecting
        self.responses = UpstreamResponseParser(maxHeadSize: maxHeadSize)
        self.idleSince = now
        self.opened = now
    }
}

/// One request the fast lane serves.
final class FastExchange {
    enum Phase {
        case waiting
        /// A JSON body collected for link rewriting (bounded) in `bufferedHead`, `collected`.
        case buffering
        /// Head written to the client; body parts pass on as they arrive.
        case streaming(chunked: Bool)
    }

    let head: ClientRequestHead
    let name: String
    let target: UpstreamTarget
    let address: String
    let pool: FastPool
    let clientHost: String
    /// The access token sent (a 401 `invalid_token` names it to the refresh).
    let token: String
    let upstreamHead: ByteBuffer
    @exclusivity(unchecked) var upstream: FastUpstream?
    @exclusivity(unchecked) var reused = false
    @exclusivity(unchecked) var retried = false
    @exclusivity(unchecked) var phase: Phase = .waiting
    @exclusivity(unchecked) var bufferedHead: UpstreamResponseHead?
    @exclusivity(unchecked) var collected: ByteBuffer?
    @exclusivity(unchecked) var upstreamKeepAlive = false

    init(head: ClientRequestHead, name: String, target: UpstreamTarget,
         address: String, pool: FastPool, clientHost: String, token: String, upstreamHead: ByteBuffer) {
        self.head = head
        self.name = name
        self.target = target
        self.address = address
        self.pool = pool
        self.clientHost = clientHost
        self.token = token
        self.upstreamHead = upstreamHead
    }
}
