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
