import NIOCore

/// Which header fields a proxy must not forward (RFC 9110 §7.6.1; SECURITY S9; Go
/// CVE-2021-33197): the hop-by-hop fields, every field named in `Connection`, and — toward
/// the upstream — the caller's credentials, which the agent replaces with its own token.
///
/// On the hot path (every request and response): names are compared case-insensitively on
/// the head's bytes (names from the parsers are tokens, so ASCII), without lower-cased copies,
/// strings or hashing, and the fields kept are copied as they were received.
enum HopByHopHeaders {
    /// Writes the request head's fields as they go upstream: `Host` is the upstream's,
    /// `Authorization` is the agent's bearer token, and nothing of the caller's credentials,
    /// proxy or hop-by-hop fields survives. `Accept-Encoding` is dropped so that JSON comes
    /// back uncompressed and its links can be rewritten. A chunked request body stays
    /// chunked (the proxy re-frames it); the result says which framing the body has.
    static func writeUpstreamRequestFields(_ head: ClientRequestHead, host: String, bearer: String,
                                           extraLines: String = "", extraNames: [String] = [],
                                           into out: inout ByteWriter) -> (chunked: Bool, hasLength: Bool) {
        out.append("Host: ")
        out.append(host)
        out.append("\r\nAuthorization: ")
        out.append(bearer)
        out.append("\r\n")
        out.append(extraLines)
        var chunked = false, hasLength = false
        head.withBytes { raw in
            let named = connectionNamed(head, raw)
            for field in head.fields {
                let n = field.name
                if n.count == 17, ASCIICaseless.equal(raw, n, "transfer-encoding") { chunked = true; continue }
                if n.count == 14, ASCIICaseless.equal(raw, n, "content-length") {
                    // Framing, whatever `Connection` names: without it the body's bytes would
                    // be read upstream as the next request (smuggling). Written once, as the
                    // number the parser checked (every value agrees), so the upstream sees
                    // the agent's framing, never repeated, listed or padded lengths.
                    if !hasLength, let length = head.contentLength {
                        hasLength = true
                        out.append("Content-Length: ")
                        out.appendDecimal(length)
                        out.append("\r\n")
                    }
                    continue
                }
                if isHopByHop(raw, n) || isDroppedToward(raw, n) || isNamed(raw, n, in: named) { continue }
                // The configuration's static fields replace a client's of the same name.
                if !extraNames.isEmpty, extraNames.contains(where: { name in
                    name.utf8.count == n.count && name.utf8.withContiguousStorageIfAvailable {
                        ASCIICaseless.equal(UnsafeRawBufferPointer(rebasing: raw[n]), UnsafeRawBufferPointer($0))
                    } == true
                }) { continue }
                writeLine(raw, field, into: &out)
            }
        }
        if chunked { out.append("Transfer-Encoding: chunked\r\n") }
        return (chunked, hasLength)
    }

    /// Writes the upstream response's fields as they go back to the caller: hop-by-hop,
    /// `Connection`-named and `Set-Cookie` fields removed; `Content-Length` and `Location`
    /// are left to the caller, which frames the body and rewrites links.
    static func writeClientResponseFields(_ head: UpstreamResponseHead, into out: inout ByteWriter) {
        head.withBytes { raw in
            let named = connectionNamed(head, raw)
            for field in head.fields {
                let n = field.name
                switch n.count {
                case 8: if ASCIICaseless.equal(raw, n, "location") { continue }
                case 10: if ASCIICaseless.equal(raw, n, "set-cookie") { continue }
                case 14: if ASCIICaseless.equal(raw, n, "content-length") { continue }
                default: break
                }
                if isHopByHop(raw, n) || isNamed(raw, n, in: named) { continue }
                writeLine(raw, field, into: &out)
            }
        }
    }

    /// The line as received, from the name to the end of the value: the colon and the
    /// spaces or tabs between are all that lies between them.
    @inline(__always)
    private static func writeLine(_ raw: UnsafeRawBufferPointer, _ field: HTTP1Field, into out: inout ByteWriter) {
        out.append(UnsafeRawBufferPointer(rebasing: raw[field.name.lowerBound..<field.value.upperBound]))
        out.append("\r\n")
    }

    /// The names listed in the head's `Connection` fields (RFC 9110 §7.6.1), as ranges; the
    /// usual `keep-alive` and `close` left out (`keep-alive` is hop-by-hop anyway).
    private static func connectionNamed<Head: HTTP1Head>(_ head: Head, _ raw: UnsafeRawBufferPointer) -> [Range<Int>] {
        var named: [Range<Int>] = []
        for field in head.fields where Head.name(raw, field, is: "connection") {
            for item in HTTP1ListItems(raw, field.value)
            where !ASCIICaseless.equal(raw, item, "keep-alive") && !ASCIICaseless.equal(raw, item, "close") {
                named.append(item)
            }
        }
        return named
    }

    private static func isNamed(_ raw: UnsafeRawBufferPointer, _ name: Range<Int>, in named: [Range<Int>]) -> Bool {
        !named.isEmpty && named.contains {
            ASCIICaseless.equal(UnsafeRawBufferPointer(rebasing: raw[$0]), UnsafeRawBufferPointer(rebasing: raw[name]))
        }
    }

    /// RFC 9110 §7.6.1 and the fields that historically act hop-by-hop.
    static func isHopByHop(_ raw: UnsafeRawBufferPointer, _ n: Range<Int>) -> Bool {
        switch n.count {
        case 2: return ASCIICaseless.equal(raw, n, "te")
        case 7: return ASCIICaseless.equal(raw, n, "trailer") || ASCIICaseless.equal(raw, n, "upgrade")
        case 10: return ASCIICaseless.equal(raw, n, "connection") || ASCIICaseless.equal(raw, n, "keep-alive")
        case 16: return ASCIICaseless.equal(raw, n, "proxy-connection")
        case 17: return ASCIICaseless.equal(raw, n, "transfer-encoding")
        case 18: return ASCIICaseless.equal(raw, n, "proxy-authenticate")
        case 19: return ASCIICaseless.equal(raw, n, "proxy-authorization")
        default: return false
        }
    }

    /// Toward the upstream: the caller's credentials and what the agent sets itself
    /// (`Host`, `Authorization`, `Expect`, `Accept-Encoding`), and any `Proxy-*` field.
    static func isDroppedToward(_ raw: UnsafeRawBufferPointer, _ n: Range<Int>) -> Bool {
        switch n.count {
        case 4: if ASCIICaseless.equal(raw, n, "host") { return true }
        case 6: if ASCIICaseless.equal(raw, n, "cookie") || ASCIICaseless.equal(raw, n, "expect") { return true }
        case 13: if ASCIICaseless.equal(raw, n, "authorization") { return true }
        case 15: if ASCIICaseless.equal(raw, n, "accept-encoding") { return true }
        default: break
        }
        return n.count >= 6 && ASCIICaseless.equal(raw, n.lowerBound..<n.lowerBound + 6, "proxy-")
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
