import CAgentSystem
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Bytes waiting for a socket to take them, in order.
struct OutputQueue {
    private(set) var buffers: [ByteBuffer] = []
    private(set) var bytes = 0
    /// The last buffer is the queue's own: small pieces are copied onto its end.
    private var ownsTail = false

    /// While answers back up, a small slice of a large buffer (a 16 KiB receive buffer) is
    /// copied rather than kept: kept, it would hold its whole buffer, and an upstream sending
    /// a byte per read to a client that does not read would pin 16 KiB per byte queued.
    static let tailCapacity = 16 * 1024

    var isEmpty: Bool { buffers.isEmpty }

    mutating func append(_ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else { return }
        bytes += buffer.readableBytes
        if !buffers.isEmpty, buffer.storageCapacity >= 8192, buffer.storageCapacity >= 4 * buffer.readableBytes {
            var piece = buffer
            if ownsTail, buffers[buffers.count - 1].writableBytes >= piece.readableBytes {
                buffers[buffers.count - 1].writeBuffer(&piece)
            } else {
                var tail = ByteBufferAllocator().buffer(capacity: max(Self.tailCapacity, piece.readableBytes))
                tail.writeBuffer(&piece)
                buffers.append(tail)
                ownsTail = true
            }
            return
        }
        buffers.append(buffer)
        ownsTail = false
    }

    /// Writes as much as the socket takes: `false` when it failed (the peer is gone).
    mutating func flush(to fd: Int32) -> Bool {
        while !buffers.isEmpty {
            let count = min(buffers.count, 64)
            var written: Int
            if count == 1 {
                written = buffers[0].withUnsafeReadableBytes { csystem_send(fd, $0.baseAddress, UInt($0.count)) }
            } else {
                var bases: [UnsafeRawPointer?] = []
                var lengths: [UInt] = []
                var storages: [Unmanaged<AnyObject>] = []
                bases.reserveCapacity(count)
                lengths.reserveCapacity(count)
                storages.reserveCapacity(count)
                // Each buffer's storage is retained while its pointer is used after the
                // closure (as NIO's own vector writes do).
                for i in 0..<count {
                    buffers[i].withUnsafeReadableBytesWithStorageManagement { raw, storage in
                        bases.append(raw.baseAddress)
                        lengths.append(UInt(raw.count))
                        storages.append(storage.retain())
                    }
                }
                written = csystem_sendv(fd, bases, lengths, Int32(count))
                for storage in storages { storage.release() }
            }
            if written < 0 {
                if errno == EINTR { continue }
                return errno == EAGAIN || errno == EWOULDBLOCK
            }
            bytes -= written
            var done = 0
            while written > 0 {
                let first = buffers[done].readableBytes
                if written >= first {
                    written -= first
                    done += 1
                } else {
                    buffers[done].moveReaderIndex(forwardBy: written)
                    written = 0
                }
            }
            if done > 0 {
                buffers.removeFirst(done)
                if buffers.isEmpty { ownsTail = false }
            }
            if done < count { return true }  // the socket is full
        }
        return true
    }

    /// Everything queued as one buffer (a hand-off to the channel path), emptying the queue.
    mutating func takeAll(_ allocator: ByteBufferAllocator) -> ByteBuffer? {
        guard !buffers.isEmpty else { return nil }
        var all = allocator.buffer(capacity: bytes)
        for var buffer in buffers { all.writeBuffer(&buffer) }
        buffers = []
        bytes = 0
        ownsTail = false
        return all
    }
}

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
    let key: String
    @exclusivity(unchecked) var idle: [FastUpstream] = []

    init(key: String) { self.key = key }
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
    let rest: Range<Int>
    let target: UpstreamTarget
    let address: String
    let pool: FastPool
    let clientHost: String
    /// The access token sent (a 401 `invalid_token` names it to the refresh).
    let token: String
    let upstreamHead: ByteBuffer
    let started: NIODeadline
    @exclusivity(unchecked) var upstream: FastUpstream?
    @exclusivity(unchecked) var reused = false
    @exclusivity(unchecked) var retried = false
    @exclusivity(unchecked) var phase: Phase = .waiting
    @exclusivity(unchecked) var bufferedHead: UpstreamResponseHead?
    @exclusivity(unchecked) var collected: ByteBuffer?
    @exclusivity(unchecked) var upstreamKeepAlive = false

    init(head: ClientRequestHead, name: String, rest: Range<Int>, target: UpstreamTarget,
         address: String, pool: FastPool, clientHost: String, token: String, upstreamHead: ByteBuffer, started: NIODeadline) {
        self.head = head
        self.name = name
        self.rest = rest
        self.target = target
        self.address = address
        self.pool = pool
        self.clientHost = clientHost
        self.token = token
        self.upstreamHead = upstreamHead
        self.started = started
    }

    var responseStarted: Bool {
        if case .streaming = phase { return true }
        return false
    }
}
