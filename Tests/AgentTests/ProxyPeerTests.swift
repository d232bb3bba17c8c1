@testable import Agent
import Foundation
import NIOCore
import Testing
import TestSupport

/// SECURITY S8: only the user's own processes get in.
@Suite("Proxy peers", .timeLimit(.minutes(1)))
struct ProxyPeerTests {
    @Test func procNetTCPLinesParse() throws {
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
        let line = "   3: 0100007F:A1B2 0100007F:1E40 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 20 4 30 10 -1"
        #expect(ProcNetTCP.parse(line: header[...]) == nil)
        #expect(ProcNetTCP.parse(line: line[...]) == .init(local: "0100007F:A1B2", remote: "0100007F:1E40", uid: 1000))
        let table = Array((header + "\n" + line + "\n").utf8)
        #expect(ProcNetTCP.ownerUID(client: "0100007F:A1B2", server: "0100007F:1E40", table: table) == 1000)
        #expect(ProcNetTCP.ownerUID(client: "0100007F:1E40", server: "0100007F:A1B2", table: table) == nil)
        let v6 = "   0: 00000000000000000000000001000000:C350 00000000000000000000000001000000:1E40 01 00000000:00000000 00:00000000 00000000     0        0 99 1"
        #expect(ProcNetTCP.parse(line: v6[...])?.uid == 0)
        let addr = try SocketAddress(ipAddress: "127.0.0.1", port: 7744)
        #expect(ProcNetTCP.kernelForm(addr) == "0100007F:1E40")
        let addr6 = try SocketAddress(ipAddress: "::1", port: 7744)
        #expect(ProcNetTCP.kernelForm(addr6) == "00000000000000000000000001000000:1E40")
    }

    @Test func liveTCPConnectionIsOurs() async throws {
        let h = try await ProxyHarness.start()
        defer { Task { await h.stop() } }
        #expect(try await h.get("/jira/acme/x").status == 200)  // served: the lookup found our uid
        // Both lookups on a live connection of our own: client socket → server socket.
        let port = h.port
        let (diagUIDs, procUID, diag, proc) = try await offloaded { () -> ([UInt32?], UInt32?, Duration, Duration) in
            let c = try RawHTTPClient(tcpPort: port)
            var local = sockaddr_in(), length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(c.fd, $0, &length) } }
            let client = SocketAddress(local, host: "127.0.0.1")
            let server = try SocketAddress(ipAddress: "127.0.0.1", port: port)
            let t0 = ContinuousClock.now
            var diagUIDs: [UInt32?] = []
            for _ in 0..<200 { diagUIDs.append(SockDiag.ownerUID(client: client, server: server)) }
            let diag = (ContinuousClock.now - t0) / 200
            let t1 = ContinuousClock.now
            var procUID: UInt32?
            for _ in 0..<10 {
                procUID = ProcNetTCP.ownerUID(client: ProcNetTCP.kernelForm(client)!, server: ProcNetTCP.kernelForm(server)!,
                                              table: ProcNetTCP.readProcFile("/proc/net/tcp") ?? [])
            }
            return (diagUIDs, procUID, diag, (ContinuousClock.now - t1) / 10)
        }
        // (Their speed is for the benchmarks; printed for information only.)
        print("peer uid lookup: sock_diag \(diag), /proc/net/tcp \(proc)")
        #expect(diagUIDs.count == 200 && diagUIDs.allSatisfy { $0 == getuid() }, "\(Set(diagUIDs.map { $0.map(String.init) ?? "nil" }))")
        #expect(procUID == getuid())
    }

    @Test func otherUIDsAreRefusedAtAccept() async throws {
        let upstream = try await RecordingUpstream { _ in .json("{}") }
        defer { Task { await upstream.stop() } }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("peer-\(UUID().uuidString.prefix(8))").path
        let server = AgentServer(
            configuration: .init(tcpPort: 0, unixSocketPath: dir + "/agent.sock", allowedUID: PeerCredentials.currentUID &+ 1),
            catalog: { ConnectionCatalog() }, tokens: FakeTokenProvider(), api: EchoAPI())
        let bound = try await server.start()
        defer { Task { await server.shutdown() } }
        let port = bound.tcpPort!
        let closed = try await offloaded { () -> [Bool] in
            let tcp = try RawHTTPClient(tcpPort: port)
            try? tcp.send("GET /jira/acme/x HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n")
            let unix = try RawHTTPClient(unixPath: dir + "/agent.sock")
            try? unix.send("GET /v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n")
            return [tcp.isClosedByPeer(), unix.isClosedByPeer()]
        }
        #expect(closed == [true, true])
    }

    @Test func unixSocketServesTokenAPIWithPeerCredentialsAndTheProxy() async throws {
        let h = try await ProxyHarness.start(api: EchoAPI())
        defer { Task { await h.stop() } }
        var info = stat()
        #expect(stat(h.socketPath, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(stat((h.socketPath as NSString).deletingLastPathComponent, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o700)

        let path = h.socketPath
        let (api, proxied, tooBig) = try await offloaded { () -> (RawHTTPClient.Response, Int, Int) in
            let client = try RawHTTPClient(unixPath: path)
            try client.send("POST /v1/connections/acme/token?min_valid=60 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}")
            let api = try client.readResponse()
            // Same connection: the proxy route.
            try client.send("GET /jira/acme/rest/api/2/myself HTTP/1.1\r\nHost: localhost\r\n\r\n")
            let proxied = try client.readResponse().status
            // A body over the token API's bound.
            let big = try RawHTTPClient(unixPath: path)
            try big.send("POST /v1/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 70000\r\n\r\n" + String(repeating: "z", count: 70000))
            return (api, proxied, try big.readResponse().status)
        }
        #expect(api.status == 200)
        let echo = try JSONDecoder().decode(EchoAPI.Echo.self, from: Data(api.body))
        #expect(echo.method == "POST")
        #expect(echo.path == "/v1/connections/acme/token")
        #expect(echo.query == "min_valid=60")
        #expect(echo.body == "{}")
        #expect(echo.uid == getuid())
        #expect(echo.pid == getpid())
        #expect(proxied == 200)
        #expect(h.upstream.requests.first?.header("authorization") == "Bearer tok-acme")
        #expect(tooBig == 413)
    }

    @Test func staleSocketIsReplacedAndLiveOneRefused() async throws {
        let h = try await ProxyHarness.start(api: EchoAPI())
        let second = AgentServer(configuration: .init(tcpPort: nil, unixSocketPath: h.socketPath),
                                 catalog: { ConnectionCatalog() }, tokens: FakeTokenProvider(), api: EchoAPI())
        await #expect(throws: AgentError.self) { try await second.start() }
        await h.server.shutdown()
        // A socket file left behind (as after SIGKILL) is replaced.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: Array(h.socketPath.utf8)) }
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(fd)
        let third = AgentServer(configuration: .init(tcpPort: nil, unixSocketPath: h.socketPath),
                                catalog: { ConnectionCatalog() }, tokens: FakeTokenProvider(), api: EchoAPI())
        _ = try await third.start()
        await third.shutdown()
        await h.stop()
    }
}
