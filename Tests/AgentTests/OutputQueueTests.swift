import Foundation
import NIOCore
import Testing
@testable import Agent

/// The fast lane's output queue: order kept across partial writes, and small slices of
/// receive buffers copied while answers back up, so queued bytes do not pin whole buffers.
@Suite struct OutputQueueTests {
    @Test func smallSlicesOfLargeBuffersAreCopiedWhileBackedUp() {
        var queue = OutputQueue()
        var receive = ByteBufferAllocator().buffer(capacity: 16 * 1024)
        receive.writeBytes(Array(repeating: UInt8(ascii: "a"), count: 10_000))
        queue.append(ByteBuffer(string: "head"))
        for i in 0..<5_000 {
            queue.append(receive.getSlice(at: i, length: 1)!)
        }
        #expect(queue.bytes == 5_004)
        #expect(queue.buffers.count == 2, "\(queue.buffers.count) buffers for 5,000 one-byte slices")
        #expect(queue.buffers.allSatisfy { $0.storageCapacity <= OutputQueue.tailCapacity })
        // A large piece, or any piece into an empty queue, is kept as it is (no copy).
        var fresh = OutputQueue()
        fresh.append(receive.getSlice(at: 0, length: 1)!)
        fresh.append(receive.getSlice(at: 0, length: 9_000)!)
        #expect(fresh.buffers.map(\.readableBytes) == [1, 9_000])
    }

    @Test func everythingArrivesInOrderThroughPartialWrites() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        var size: Int32 = 4096
        setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, 4)
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        var expected: [UInt8] = []
        var queue = OutputQueue()
        var receive = ByteBufferAllocator().buffer(capacity: 16 * 1024)
        receive.writeBytes((0..<16_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        for i in 0..<300 {
            // Pieces of 1 to 3,000 bytes: some copied, some kept, more than 64 per write.
            let length = [1, 17, 3_000, 2][i % 4]
            let piece = receive.getSlice(at: (i * 31) % 12_000, length: length)!
            expected += piece.readableBytesView
            queue.append(piece)
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1_000)
        while !queue.isEmpty || received.count < expected.count {
            let flushed = queue.flush(to: fds[0])
            #expect(flushed)
            let n = read(fds[1], &chunk, chunk.count)
            if n > 0 { received += chunk[0..<n] }
        }
        #expect(received == expected)
        #expect(queue.bytes == 0)
    }
}
