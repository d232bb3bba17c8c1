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
                    // be read upstream as the next request (smuggling).
                    hasLength = true
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
                where !equalLowercased(raw, item, "keep-alive") && !equalLowercased(raw, item, "close") {
                    named.append(item)
                }
            }
            for field in head.fields {
                let n = field.name
                switch n.count {
                case 2: if equalLowercased(raw, n, "te") { continue }
                case 7: if equalLowercased(raw, n, "trailer") || equalLowercased(raw, n, "upgrade") { continue }
                case 8: if equalLowercased(raw, n, "location") { continue }
                case 10: if equalLowercased(raw, n, "connection") || equalLowercased(raw, n, "keep-alive") || equalLowercased(raw, n, "set-cookie") { continue }
                case 14: if equalLowercased(raw, n, "content-length") { continue }
                case 16: if equalLowercased(raw, n, "proxy-connection") { continue }
                case 17: if equalLowercased(raw, n, "transfer-encoding") { continue }
                case 18: if equalLowercased(raw, n, "proxy-authenticate") { continue }
                case 19: if equalLowercased(raw, n, "proxy-authorization") { continue }
                default: break
                }
                if !named.isEmpty, named.contains(where: { item in
                    item.count == n.count && zip(item, n).allSatisfy { raw[$0.0].asciiLowercased == raw[$0.1].asciiLowercased }
                }) { continue }
                // The line as received, from the name to the end of the value: the colon and
                // the spaces or tabs between are all that lies between them.
                out.append(UnsafeRawBufferPointer(rebasing: raw[n.lowerBound..<field.value.upperBound]))
                out.append("\r\n")
            }
        }
    }

    @inline(__always)
    static func equalLowercased(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>, _ lower: StaticString) -> Bool {
        guard range.count == lower.utf8CodeUnitCount else { return false }
        let b = UnsafeRawBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount)
        for (i, c) in zip(range, b) where raw[i].asciiLowercased != c { return false }
        return true
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
        let b = UnsafeBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount)
        if let r = utf8.withContiguousStorageIfAvailable({ Self.equalLowercased($0, b) }) { return r }
        return Array(utf8).withUnsafeBufferPointer { Self.equalLowercased($0, b) }
    }

    /// The same with a lower-case `lower` known only at run time.
    func isEqualLowercased(name lower: String) -> Bool {
        var lower = lower
        return lower.withUTF8 { b in
            if let r = utf8.withContiguousStorageIfAvailable({ Self.equalLowercased($0, b) }) { return r }
            return Array(utf8).withUnsafeBufferPointer { Self.equalLowercased($0, b) }
        }
    }

    /// Whether the string starts with `lower` (lower-case), ignoring ASCII case.
    func hasLowercasedPrefix(_ lower: StaticString) -> Bool {
        let b = UnsafeBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount)
        let check = { (a: UnsafeBufferPointer<UInt8>) -> Bool in
            a.count >= b.count && Self.equalLowercased(UnsafeBufferPointer(rebasing: a[..<b.count]), b)
        }
        if let r = utf8.withContiguousStorageIfAvailable(check) { return r }
        return Array(utf8).withUnsafeBufferPointer(check)
    }

    @inline(__always)
    static func equalLowercased(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where a[i].asciiLowercased != b[i] { return false }
        return true
    }

    /// Whether `lower` (lower-case ASCII) occurs in the string, ignoring ASCII case.
    func containsLowercased(_ lower: StaticString) -> Bool {
        let needle = UnsafeBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount)
        if let found = utf8.withContiguousStorageIfAvailable({ Self.search($0, needle) }) { return found }
        return Array(utf8).withUnsafeBufferPointer { Self.search($0, needle) }
    }

    private static func search(_ hay: UnsafeBufferPointer<UInt8>, _ needle: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = needle.first else { return true }
        guard hay.count >= needle.count else { return false }
        for i in 0...(hay.count - needle.count) where hay[i].asciiLowercased == first {
            var k = 1
            while k < needle.count, hay[i + k].asciiLowercased == needle[k] { k += 1 }
            if k == needle.count { return true }
        }
        return false
    }
}

extension UInt8 {
    @inline(__always)
    var asciiLowercased: UInt8 { self &- 0x41 < 26 ? self | 0x20 : self }
}
