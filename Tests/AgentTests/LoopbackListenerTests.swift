import OAuth
import Foundation
import Testing
@testable import Agent
#if canImport(Glibc)
import Glibc
#endif

/// The loopback listener on a real socket, driven by raw HTTP requests as a browser (or a
/// hostile local page) would send them (SECURITY S1, S2).
@Suite struct LoopbackListenerTests {
    static let state = "st-2c81e0"

    @Test(.timeLimit(.minutes(1)))
    func hostileRequestsAreAnsweredThenTheRightCallbackEndsTheFlow() async throws {
        let listener = try await LoopbackListener.bind(ports: [0])
        defer { listener.close() }
        #expect(listener.port > 0)
        let port = listener.port
        let authorization = URL(string: "https://sso.example.com/authorize?state=\(Self.state)")!
        listener.serve(LoopbackFlow(startPath: "/start-91", authorizationURL: authorization, expectedState: Self.state,
                                    expectedIssuer: nil, issuerRequired: false,
                                    allowedHosts: ["127.0.0.1:\(port)", "[::1]:\(port)", "localhost:\(port)"]))
        let host = "127.0.0.1:\(port)"

        let start = try LoopbackProbe.get(port: port, "/start-91", host: host)
        #expect(start.status == 302)
        #expect(start.header("location") == authorization.absoluteString)
        #expect(start.header("referrer-policy") == "no-referrer")
        #expect(try LoopbackProbe.get(port: port, "/start-91", host: host).status == 410)

        let wrongState = try LoopbackProbe.get(port: port, "/callback?code=stolen&state=other", host: host)
        #expect(wrongState.status == 400)
        #expect(!wrongState.body.contains("stolen"))
        #expect(try LoopbackProbe.get(port: port, "/favicon.ico", host: host).status == 404)
        #expect(try LoopbackProbe.get(port: port, "/callback?code=stolen&state=\(Self.state)", host: "evil.example.com").status == 421)
        #expect(try LoopbackProbe.get(port: port, "/callback?code=stolen&state=\(Self.state)", host: nil).status == 421)

        let done = try LoopbackProbe.get(port: port, "/callback?code=the-code&state=\(Self.state)", host: host)
        #expect(done.status == 200)
        #expect(done.header("content-security-policy")?.contains("default-src 'none'") == true)
        #expect(done.body.contains(LoopbackPage.success.title))
        guard case .code(let code) = try await listener.outcome else {
            Issue.record("the flow did not end with a code")
            return
        }
        #expect(code == "the-code")
        #expect(try LoopbackProbe.get(port: port, "/callback?code=the-code&state=\(Self.state)", host: host).status == 410)
    }

    @Test(.timeLimit(.minutes(1)))
    func denialWithTheRightStateEndsTheFlow() async throws {
        let listener = try await LoopbackListener.bind(ports: [0])
        defer { listener.close() }
        let port = listener.port
        listener.serve(LoopbackFlow(startPath: "/s", authorizationURL: URL(string: "https://sso.example.com/a")!,
                                    expectedState: Self.state, expectedIssuer: nil, issuerRequired: false,
                                    allowedHosts: ["localhost:\(port)"]))
        let answer = try LoopbackProbe.get(port: port, "/callback?error=access_denied&state=\(Self.state)", host: "localhost:\(port)")
        #expect(answer.status == 200)
        #expect(answer.body.contains(LoopbackPage.denied.title))
        guard case .denied(let error) = try await listener.outcome else {
            Issue.record("the flow did not end with a denial")
            return
        }
        #expect(error.oauthError == "access_denied")
    }

    /// RFC 9207: the right state with a foreign `iss` ends the flow with that reason, not
    /// with a blanket `access_denied`.
    @Test(.timeLimit(.minutes(1)))
    func anIssuerMismatchEndsTheFlowWithItsOwnReason() async throws {
        let listener = try await LoopbackListener.bind(ports: [0])
        defer { listener.close() }
        let port = listener.port
        listener.serve(LoopbackFlow(startPath: "/s", authorizationURL: URL(string: "https://sso.example.com/a")!,
                                    expectedState: Self.state, expectedIssuer: "https://sso.example.com", issuerRequired: true,
                                    allowedHosts: ["127.0.0.1:\(port)"]))
        let answer = try LoopbackProbe.get(port: port, "/callback?code=c0de&state=\(Self.state)&iss=https%3A%2F%2Fevil.example", host: "127.0.0.1:\(port)")
        #expect(answer.status == 200)
        #expect(answer.body.contains(LoopbackPage.failed.title))
        #expect(!answer.body.contains("evil.example"))
        guard case .denied(let error) = try await listener.outcome else {
            Issue.record("the flow did not end with a denial")
            return
        }
        #expect(error.code == .issuerMismatch)
        #expect(error.oauthError == nil)
    }

    @Test(.timeLimit(.minutes(1)))
    func theRightStateWithoutACodeEndsTheFlowAsAnInvalidResponse() async throws {
        let listener = try await LoopbackListener.bind(ports: [0])
        defer { listener.close() }
        let port = listener.port
        listener.serve(LoopbackFlow(startPath: "/s", authorizationURL: URL(string: "https://sso.example.com/a")!,
                                    expectedState: Self.state, expectedIssuer: nil, issuerRequired: false,
                                    allowedHosts: ["127.0.0.1:\(port)"]))
        let answer = try LoopbackProbe.get(port: port, "/callback?state=\(Self.state)", host: "127.0.0.1:\(port)")
        #expect(answer.status == 200)
        guard case .denied(let error) = try await listener.outcome else {
            Issue.record("the flow did not end with a denial")
            return
        }
        #expect(error.code == .invalidResponse)
    }

    @Test(.timeLimit(.minutes(1)))
    func closeFailsTheOutcome() async throws {
        let listener = try await LoopbackListener.bind(ports: [0])
        listener.close(reason: AgentError(.authorizationFailed, "timed out"))
        await #expect(throws: AgentError.self) { _ = try await listener.outcome }
    }

    @Test(.timeLimit(.minutes(1)))
    func aPortHeldByAnotherSocketIsAClearError() async throws {
        let holder = try HeldPort()
        defer { holder.release() }
        do {
            let listener = try await LoopbackListener.bind(ports: [holder.port])
            listener.close()
            Issue.record("bound port \(holder.port), which another socket holds")
        } catch let error as AgentError {
            #expect(error.code == .authorizationFailed)
            #expect(error.message.contains("port \(holder.port) "), "\(error.message)")
            #expect(error.message.contains("redirect_ports"))
        }
    }

    /// A finished sign-in leaves TIME_WAIT entries on its port (the listener closes first):
    /// the same fixed port must bind again at once, as a second `login` would.
    @Test(.timeLimit(.minutes(1)))
    func aFixedPortCanBeBoundAgainRightAfterASignIn() async throws {
        let first = try await LoopbackListener.bind(ports: [0])
        let port = first.port
        first.serve(LoopbackFlow(startPath: "/s", authorizationURL: URL(string: "https://sso.example.com/a")!,
                                 expectedState: Self.state, expectedIssuer: nil, issuerRequired: false,
                                 allowedHosts: ["127.0.0.1:\(port)"]))
        #expect(try LoopbackProbe.get(port: port, "/favicon.ico", host: "127.0.0.1:\(port)").status == 404)
        #expect(try LoopbackProbe.get(port: port, "/callback?code=c&state=\(Self.state)", host: "127.0.0.1:\(port)").status == 200)
        await first.closeAndWait()
        let second = try await LoopbackListener.bind(ports: [port])
        defer { second.close() }
        #expect(second.port == port)
    }

    @Test(.timeLimit(.minutes(1)))
    func theNextConfiguredPortIsTriedWhenTheFirstIsHeld() async throws {
        let holder = try HeldPort()
        defer { holder.release() }
        let listener = try await LoopbackListener.bind(ports: [holder.port, 0])
        defer { listener.close() }
        #expect(listener.port != holder.port)
        #expect(listener.port > 0)
    }
}

/// A TCP socket listening on 127.0.0.1 at a kernel-chosen port, as another program would.
private struct HeldPort {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                Glibc.bind(fd, pointer, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { close(fd); throw POSIXError(.EADDRINUSE) }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func release() { close(fd) }
}

/// One blocking HTTP/1.1 request to 127.0.0.1; reads until the listener closes.
private enum LoopbackProbe {
    struct Answer {
        var status: Int
        var head: String
        var body: String
        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
    }

    static func get(port: Int, _ target: String, host: String?) throws -> Answer {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(fd) }
        var tv = timeval(tv_sec: 20, tv_usec: 0)  // a generous bound: a hung listener fails the test
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        var request = "GET \(target) HTTP/1.1\r\n"
        if let host { request += "Host: \(host)\r\n" }
        request += "User-Agent: probe\r\nAccept: text/html\r\n\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else { throw POSIXError(.EPIPE) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 { received += buffer[0..<n]; continue }
            if n == 0 { break }
            if errno == EINTR { continue }
            throw POSIXError(.ETIMEDOUT)
        }
        let text = String(decoding: received, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw POSIXError(.EBADMSG) }
        let head = String(text[..<split.lowerBound])
        let fields = head.split(separator: " ", maxSplits: 2)
        guard fields.count >= 2, let status = Int(fields[1]) else { throw POSIXError(.EBADMSG) }
        return Answer(status: status, head: head, body: String(text[split.upperBound...]))
    }
}
