import NIOCore
#if canImport(Glibc)
import Glibc
import CNIOLinux
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds the owner of a loopback TCP connection in `/proc/net/tcp` or `/proc/net/tcp6`
/// (SECURITY S8: another local user can connect to any `127.0.0.1` port).
///
/// The client's socket has its own address as `local_address` and ours as `rem_address`;
/// its row carries the client's uid. Addresses are printed as the in-memory 32-bit words in
/// `%08X`, ports as `%04X` in host order (`net/ipv4/tcp_ipv4.c`, `get_tcp4_sock`).
enum ProcNetTCP {
    /// One parsed row: the fields the lookup needs.
    struct Row: Equatable {
        let local: String
        let remote: String
        let uid: UInt32
    }

    /// Parses one line of `/proc/net/tcp{,6}`; `nil` for the header or a malformed line.
    static func parse(line: Substring) -> Row? {
        var fields: [Substring] = []
        fields.reserveCapacity(8)
        for f in line.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            fields.append(f)
            if fields.count == 8 { break }
        }
        guard fields.count == 8, fields[0].hasSuffix(":"), let uid = UInt32(fields[7]) else { return nil }
        return Row(local: String(fields[1]), remote: String(fields[2]), uid: uid)
    }

    /// The `ADDR:PORT` form of a socket address as the kernel prints it.
    static func kernelForm(_ address: SocketAddress) -> String? {
        switch address {
        case .v4(let a):
            let word = a.address.sin_addr.s_addr
            return hex(word, 8) + ":" + hex(UInt32(UInt16(bigEndian: a.address.sin_port)), 4)
        case .v6(let a):
            var addr = a.address.sin6_addr
            let words = withUnsafeBytes(of: &addr) { raw in (0..<4).map { raw.load(fromByteOffset: $0 * 4, as: UInt32.self) } }
            return words.map { hex($0, 8) }.joined() + ":" + hex(UInt32(UInt16(bigEndian: a.address.sin6_port)), 4)
        default:
            return nil
        }
    }

    /// The uid owning the client end of the connection `client` → `server`, read from the
    /// table text (for tests) or `nil` when no row matches.
    static func ownerUID(client: String, server: String, table: [UInt8]) -> UInt32? {
        let needle = Array((client + " " + server + " ").utf8)
        guard let at = find(needle, in: table) else { return nil }
        var start = at
        while start > 0, table[start - 1] != 0x0A { start -= 1 }
        var end = at
        while end < table.count, table[end] != 0x0A { end += 1 }
        let line = String(decoding: table[start..<end], as: UTF8.self)
        guard let row = parse(line: line[...]), row.local == client, row.remote == server else { return nil }
        return row.uid
    }

    /// Looks the peer of an accepted TCP channel up: netlink `sock_diag` first (one socket,
    /// microseconds), this table as the fallback; `nil` when it cannot be found.
    static func ownerUID(of channel: any Channel) -> UInt32? {
        guard let remote = channel.remoteAddress, let local = channel.localAddress else { return nil }
        return ownerUID(client: remote, server: local)
    }

    /// The same for the client `remote` of the agent's socket `local`.
    static func ownerUID(client remote: SocketAddress, server local: SocketAddress) -> UInt32? {
        if let uid = SockDiag.ownerUID(client: remote, server: local) { return uid }
        guard let client = kernelForm(remote), let server = kernelForm(local) else { return nil }
        let path: String
        if case .v6 = remote { path = "/proc/net/tcp6" } else { path = "/proc/net/tcp" }
        guard let table = readProcFile(path) else { return nil }
        return ownerUID(client: client, server: server, table: table)
    }

    /// `/proc` files report size 0: read until EOF.
    static func readProcFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    private static func hex(_ v: UInt32, _ width: Int) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    private static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard !needle.isEmpty, hay.count >= needle.count else { return nil }
        let first = needle[0]
        var i = 0
        let last = hay.count - needle.count
        while i <= last {
            if hay[i] == first {
                var k = 1
                while k < needle.count, hay[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}
