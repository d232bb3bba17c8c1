import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A raw HTTP/1.1 server on 127.0.0.1 for proxy tests that need responses no well-behaved
/// library writes: chunked, close-delimited, malformed, with bytes after the end. Each
/// request is read (head, and a body by `Content-Length` or chunked), recorded, and answered
/// with exactly the bytes `reply` returns; blocking sockets, a thread per connection.
public final class ScriptedUpstream: @unchecked Sendable {
    public struct Request: Sendable {
        /// The request line and fields as received, without the empty line.
        public var head: String
        public var body: [UInt8]
        /// Which connection (1, 2, …) carried it.
        public var connection: Int
        public func header(_ name: String) -> String? {
            head.components(separatedBy: "\r\n").dropFirst().first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
                .map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) }
        }
    }

    /// What to send back, and whether to close the connection after it. With `pieces`, the
    /// text is sent in that many parts `pause` seconds apart (a slow or trickling server).
    public struct Reply: Sendable {
        public var bytes: [UInt8]
        public var close: Bool
        public var pieces: [[UInt8]]
        public var pause: Double
        public init(_ text: String, close: Bool = false) {
            self.bytes = Array(text.utf8)
            self.close = close
            self.pieces = [bytes]
            self.pause = 0
        }
        public init(pieces: [String], pause: Double, close: Bool = false) {
            self.pieces = pieces.map { Array($0.utf8) }
            self.bytes = self.pieces.flatMap { $0 }
            self.close = close
            self.pause = pause
        }
    }

    public let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var requests: [Request] = []
    private var connectionCount = 0
    private let reply: @Sendable (Request) -> Reply
    private let readsBodies: Bool

    /// With `readsBodies: false` it answers as soon as a request head is in, as a server
    /// refusing an upload does, and reads no body.
    public init(readsBodies: Bool = true, reply: @escaping @Sendable (Request) -> Reply) throws {
        self.reply = reply
        self.readsBodies = readsBodies
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { close(fd); throw POSIXError(.EADDRINUSE) }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let listener = fd
        Thread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }  // stopped
                let number = lock.withLock { connectionCount += 1; return connectionCount }
                Thread { self.serve(client, number: number) }.start()
            }
        }.start()
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var received: [Request] { lock.withLock { requests } }
    public var connections: Int { lock.withLock { connectionCount } }

    public func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    private func serve(_ client: Int32, number: Int) {
        defer { close(client) }
        var buffer: [UInt8] = []
        func fill() -> Bool {
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            let n = chunk.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
            guard n > 0 else { return false }
            buffer += chunk[..<n]
            return true
        }
        func line() -> String? {
            while true {
                if let i = buffer.firstIndex(of: 10) {
                    let text = String(decoding: buffer[..<i], as: UTF8.self).trimmingCharacters(in: ["\r"])
                    buffer.removeFirst(i + 1)
                    return text
                }
                guard fill() else { return nil }
            }
        }
        func bytes(_ count: Int) -> [UInt8]? {
            while buffer.count < count { guard fill() else { return nil } }
            defer { buffer.removeFirst(count) }
            return Array(buffer[..<count])
        }
        while true {
            var lines: [String] = []
            while let l = line(), !l.isEmpty { lines.append(l) }
            guard !lines.isEmpty else { return }
            var request = Request(head: lines.joined(separator: "\r\n"), body: [], connection: number)
            if !readsBodies {
                // answered at once; whatever body follows is left unread
            } else if request.header("transfer-encoding")?.lowercased() == "chunked" {
                while let sizeLine = line(), let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16), size > 0 {
                    guard let data = bytes(size) else { return }
                    request.body += data
                    _ = line()
                }
                while let trailer = line(), !trailer.isEmpty {}
            } else if let length = request.header("content-length").flatMap(Int.init), length > 0 {
                guard let data = bytes(length) else { return }
                request.body = data
            }
            lock.withLock { requests.append(request) }
            let answer = reply(request)
            for (i, piece) in answer.pieces.enumerated() {
                if i > 0 { Thread.sleep(forTimeInterval: answer.pause) }
                var sent = 0
                while sent < piece.count {
                    let n = piece[sent...].withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
                    guard n > 0 else { return }
                    sent += n
                }
            }
            if answer.close { return }
        }
    }
}
