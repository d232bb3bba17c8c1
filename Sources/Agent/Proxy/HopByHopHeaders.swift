import NIOCore
import NIOHTTP1

/// Which header fields a proxy must not forward (RFC 9110 §7.6.1; SECURITY S9; Go
/// CVE-2021-33197): the hop-by-hop fields, every field named in `Connection`, and — toward
/// the upstream — the caller's credentials, which the agent replaces with its own token.
///
/// On the hot path (every request and response): names are compared case-insensitively on
/// their bytes, without lower-cased copies or hashing. Names from the HTTP parser are tokens
/// (ASCII); a name with any other byte takes the `lowercased()` path, so the outcome is the
/// same as comparing lower-cased strings.
enum HopByHopHeaders {
    /// RFC 9110 §7.6.1 and the fields that historically act hop-by-hop.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
        "upgrade", "proxy-authenticate", "proxy-authorization",
    ]

    /// Names listed in the `Connection` fields, lower-cased (RFC 9110 §7.6.1): each field
    /// split on commas, spaces and tabs trimmed, empty items skipped.
    static func connectionNamed(in headers: HTTPHeaders) -> [String] {
        var names: [String] = []
        for (name, value) in headers where name.utf8.count == 10 && name.isEqualLowercased("connection") {
            for item in value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                let token = Substring(item).trimmingASCIISpaces()
                // `keep-alive` and `close`, nearly every value seen: no lower-cased copy
                // (`keep-alive` is removed as hop-by-hop anyway).
                if token.isEmpty || token.isEqualLowercased("keep-alive") { continue }
                names.append(token.isEqualLowercased("close") ? "close" : token.lowercased())
            }
        }
        return names
    }

    /// Writes the request head's fields as they go upstream: `Host` is the upstream's,
    /// `Authorization` is the agent's bearer token, and nothing of the caller's credentials,
    /// proxy or hop-by-hop fields survives. `Accept-Encoding` is dropped so that JSON comes
    /// back uncompressed and its links can be rewritten. A chunked request body stays
    /// chunked (the proxy re-frames it); the result says which framing the body has.
    static func writeUpstreamRequestFields(_ inbound: HTTPHeaders, host: String, bearer: String,
                                           into out: inout ByteWriter) -> (chunked: Bool, hasLength: Bool) {
        let named = connectionNamed(in: inbound)
        out.append("Host: ")
        out.append(host)
        out.append("\r\nAuthorization: ")
        out.append(bearer)
        out.append("\r\n")
        var chunked = false, hasLength = false
        for (name, value) in inbound {
            if name.utf8.allSatisfy({ $0 < 0x80 }) {
                if name.isEqualLowercased("transfer-encoding") { chunked = true; continue }
                if name.utf8.count == 14, name.isEqualLowercased("content-length") {
                    // Framing, whatever `Connection` names: without it the body's bytes would
                    // be read upstream as the next request (smuggling). Written once, as the
                    // number the parser and `RequestScreen` checked (every value agrees), so
                    // the upstream sees the agent's framing, never repeated or padded lengths.
                    guard !hasLength else { continue }
                    hasLength = true
                    if let length = Int(value) {
                        out.append("Content-Length: ")
                        out.appendDecimal(length)
                        out.append("\r\n")
                        continue
                    }
                } else if isHopByHop(name) || isDroppedToward(name) || named.contains(where: { name.isEqualLowercased(name: $0) }) {
                    continue
                }
            } else {
                let lower = name.lowercased()  // not from the parser; the general path
                if lower == "transfer-encoding" { chunked = true; continue }
                if hopByHop.contains(lower) || droppedToward(lower) || named.contains(lower) { continue }
            }
            out.append(name)
            out.append(": ")
            out.append(value)
            out.append("\r\n")
        }
        if chunked { out.append("Transfer-Encoding: chunked\r\n") }
        return (chunked, hasLength)
    }

    static func droppedToward(_ lower: String) -> Bool {
        switch lower {
        case "host", "authorization", "cookie", "accept-encoding", "expect": return true
        default: return lower.hasPrefix("proxy-")
        }
    }

    /// Writes the upstream response's fields as they go back to the caller: hop-by-hop,
    /// `Connection`-named and `Set-Cookie` fields removed; `Content-Length` and `Location`
    /// are left to the caller, which frames the body and rewrites links.
    static func writeClientResponseFields(_ head: UpstreamResponseHead, into out: inout ByteWriter) {
        head.withBytes { raw in
            var named: [Range<Int>] = []
            for field in head.fields where head.name(of: field, is: "connection") {
                for item in UpstreamResponseHead.items(raw, field.value)
                where !ASCIICaseless.equal(raw, item, "keep-alive") && !ASCIICaseless.equal(raw, item, "close") {
                    named.append(item)
                }
            }
            for field in head.fields {
                let n = field.name
                switch n.count {
                case 2: if ASCIICaseless.equal(raw, n, "te") { continue }
                case 7: if ASCIICaseless.equal(raw, n, "trailer") || ASCIICaseless.equal(raw, n, "upgrade") { continue }
                case 8: if ASCIICaseless.equal(raw, n, "location") { continue }
                case 10: if ASCIICaseless.equal(raw, n, "connection") || ASCIICaseless.equal(raw, n, "keep-alive") || ASCIICaseless.equal(raw, n, "set-cookie") { continue }
                case 14: if ASCIICaseless.equal(raw, n, "content-length") { continue }
                case 16: if ASCIICaseless.equal(raw, n, "proxy-connection") { continue }
                case 17: if ASCIICaseless.equal(raw, n, "transfer-encoding") { continue }
                case 18: if ASCIICaseless.equal(raw, n, "proxy-authenticate") { continue }
                case 19: if ASCIICaseless.equal(raw, n, "proxy-authorization") { continue }
                default: break
                }
                if !named.isEmpty, named.contains(where: {
                    ASCIICaseless.equal(UnsafeRawBufferPointer(rebasing: raw[$0]), UnsafeRawBufferPointer(rebasing: raw[n]))
                }) { continue }
                // The line as received, from the name to the end of the value: the colon and
                // the spaces or tabs between are all that lies between them.
                out.append(UnsafeRawBufferPointer(rebasing: raw[n.lowerBound..<field.value.upperBound]))
                out.append("\r\n")
            }
        }
    }

    /// `hopByHop.contains(name.lowercased())` for an ASCII name.
    static func isHopByHop(_ name: String) -> Bool {
        switch name.utf8.count {
        case 2: return name.isEqualLowercased("te")
        case 7: return name.isEqualLowercased("trailer") || name.isEqualLowercased("upgrade")
        case 10: return name.isEqualLowercased("connection") || name.isEqualLowercased("keep-alive")
        case 16: return name.isEqualLowercased("proxy-connection")
        case 17: return name.isEqualLowercased("transfer-encoding")
        case 18: return name.isEqualLowercased("proxy-authenticate")
        case 19: return name.isEqualLowercased("proxy-authorization")
        default: return false
        }
    }

    /// `droppedToward(name.lowercased())` for an ASCII name.
    static func isDroppedToward(_ name: String) -> Bool {
        switch name.utf8.count {
        case 4: if name.isEqualLowercased("host") { return true }
        case 6: if name.isEqualLowercased("cookie") || name.isEqualLowercased("expect") { return true }
        case 13: if name.isEqualLowercased("authorization") { return true }
        case 15: if name.isEqualLowercased("accept-encoding") { return true }
        default: break
        }
        return name.hasLowercasedPrefix("proxy-")
    }
}

extension StringProtocol where SubSequence == Substring {
    func trimmingASCIISpaces() -> Substring {
        var s = self[...].utf8
        while let f = s.first, f == UInt8(ascii: " ") || f == UInt8(ascii: "\t") { s = s.dropFirst() }
        while let l = s.last, l == UInt8(ascii: " ") || l == UInt8(ascii: "\t") { s = s.dropLast() }
        return Substring(s)
    }
}

extension StringProtocol {
    /// Whether the string, with ASCII letters lower-cased, equals `lower` (which must be
    /// lower-case), byte for byte.
    @inline(__always)
    func isEqualLowercased(_ lower: StaticString) -> Bool {
        withUTF8Bytes { ASCIICaseless.equal($0, ASCIICaseless.bytes(lower)) }
    }

    /// The same with a lower-case `lower` known only at run time.
    func isEqualLowercased(name lower: String) -> Bool {
        var lower = lower
        return lower.withUTF8 { b in withUTF8Bytes { ASCIICaseless.equal($0, UnsafeRawBufferPointer(b)) } }
    }

    /// Whether the string starts with `lower` (lower-case), ignoring ASCII case.
    func hasLowercasedPrefix(_ lower: StaticString) -> Bool {
        let b = ASCIICaseless.bytes(lower)
        return withUTF8Bytes { a in a.count >= b.count && ASCIICaseless.equal(UnsafeRawBufferPointer(rebasing: a[..<b.count]), b) }
    }

    /// Whether `lower` (lower-case ASCII) occurs in the string, ignoring ASCII case.
    func containsLowercased(_ lower: StaticString) -> Bool {
        withUTF8Bytes { ASCIICaseless.contains($0, ASCIICaseless.bytes(lower)) }
    }

    /// The string's UTF-8 bytes, without a copy when they are contiguous.
    @inline(__always)
    private func withUTF8Bytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        if let r = utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return r }
        return Array(utf8).withUnsafeBytes(body)
    }
}
