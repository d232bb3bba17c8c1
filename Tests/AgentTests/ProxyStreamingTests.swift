import Agent
import Foundation
import Testing
import TestSupport

/// Large bodies are streamed with backpressure, never buffered whole (issue 5).
@Suite("Proxy streaming", .serialized, .timeLimit(.minutes(2)))
struct ProxyStreamingTests {
    static let size = 50 * 1024 * 1024

    @Test func fiftyMegabyteDownloadDoesNotGrowMemory() async throws {
        let h = try await ProxyHarness.start { _ in
            .init(headers: [("Content-Type", "application/octet-stream")], generatedBodySize: Self.size)
        }
        defer { Task { await h.stop() } }
        _ = try await h.get("/jira/acme/warmup")
        let before = currentRSS()
        resetPeakRSS()
        let host = h.host, port = h.port
        let response = try await offloaded {
            let client = try RawHTTPClient(tcpPort: port)
            try client.send("GET /jira/acme/secure/attachment/1/big.bin HTTP/1.1\r\nHost: \(host)\r\n\r\n")
            return try client.readResponse(discardBody: true)
        }
        // Peak, not end state: a body buffered and freed again still shows. Other suites
        // running in parallel can only make this larger, never hide growth.
        let growth = peakRSS() - before
        print("download: \(response.bodySize) bytes, RSS growth \(growth / 1024) KiB")
        #expect(response.status == 200)
        #expect(response.bodySize == Self.size)
        #expect(growth < 16 * 1024 * 1024)
    }

    /// A client that stops reading: the proxy stops reading the upstream (backpressure)
    /// instead of queueing the rest of the 50 MB for it.
    @Test func aClientThatStopsReadingHoldsTheUpstreamBack() async throws {
        let h = try await ProxyHarness.start { _ in
            .init(headers: [("Content-Type", "application/octet-stream")], generatedBodySize: Self.size)
        }
        defer { Task { await h.stop() } }
        _ = try await h.get("/jira/acme/warmup")
        let before = currentRSS()
        resetPeakRSS()
        let host = h.host, port = h.port, size = Self.size
        let (received, growth) = try await offloaded { () -> (Int, Int) in
            let client = try RawHTTPClient(tcpPort: port)
            try client.send("GET /jira/acme/secure/attachment/1/big.bin HTTP/1.1\r\nHost: \(host)\r\n\r\n")
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            var received = 0
            func readSome() -> Int { chunk.withUnsafeMutableBytes { read(client.fd, $0.baseAddress, $0.count) } }
            while received < 1 << 20 { let n = readSome(); guard n > 0 else { break }; received += n }
            Thread.sleep(forTimeInterval: 1.5)  // the client stalls; without backpressure the rest piles up
            let growth = peakRSS() - before
            while received < size { let n = readSome(); guard n > 0 else { break }; received += n }
            return (received, growth)
        }
        print("stalled download: RSS growth \(growth / 1024) KiB while the client did not read")
        #expect(received >= size)
        #expect(growth < 16 * 1024 * 1024)
    }

    @Test func fiftyMegabyteUploadDoesNotGrowMemory() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        _ = try await h.get("/jira/acme/warmup")
        let before = currentRSS()
        resetPeakRSS()
        let host = h.host, port = h.port, size = Self.size
        let response = try await offloaded {
            let client = try RawHTTPClient(tcpPort: port)
            try client.send("POST /jira/acme/rest/api/2/issue/X-1/attachments HTTP/1.1\r\nHost: \(host)\r\nContent-Length: \(size)\r\nX-Atlassian-Token: no-check\r\n\r\n")
            let chunk = [UInt8](repeating: UInt8(ascii: "u"), count: 256 * 1024)
            for _ in 0..<(size / chunk.count) { try client.send(chunk) }
            return try client.readResponse()
        }
        // Peak, not end state: a body buffered and freed again still shows. Other suites
        // running in parallel can only make this larger, never hide growth.
        let growth = peakRSS() - before
        print("upload: RSS growth \(growth / 1024) KiB")
        #expect(response.status == 200)
        #expect(h.upstream.requests.last?.bodySize == Self.size)
        #expect(growth < 16 * 1024 * 1024)
    }
}
