import NIOHTTP1

/// Which header fields a proxy must not forward (RFC 9110 §7.6.1; SECURITY S9; Go
/// CVE-2021-33197): the hop-by-hop fields, every field named in `Connection`, and — toward
/// the upstream — the caller's credentials, which the agent replaces with its own token.
enum HopByHopHeaders {
    /// RFC 9110 §7.6.1 and the fields that historically act hop-by-hop.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
        "upgrade", "proxy-authenticate", "proxy-authorization",
    ]

    /// Names listed in the `Connection` fields, lower-cased (RFC 9110 §7.6.1).
    static func connectionNamed(in headers: HTTPHeaders) -> Set<String> {
        var names: Set<String> = []
        for value in headers[canonicalForm: "connection"] {
            let token = value.trimmingASCIISpaces().lowercased()
            if !token.isEmpty { names.insert(token) }
        }
        return names
    }

    /// The request head's fields as they go upstream: `Host` is the upstream's,
    /// `Authorization` is the agent's bearer token, and nothing of the caller's credentials,
    /// proxy or hop-by-hop fields survives. `Accept-Encoding` is dropped so that JSON comes
    /// back uncompressed and its links can be rewritten.
    static func upstreamRequestHeaders(_ inbound: HTTPHeaders, host: String, bearer: String) -> HTTPHeaders {
        let named = inbound.contains(name: "connection") ? connectionNamed(in: inbound) : []
        var out = HTTPHeaders()
        out.reserveCapacity(inbound.count + 2)
        out.add(name: "Host", value: host)
        out.add(name: "Authorization", value: bearer)
        var chunked = false
        for (name, value) in inbound {
            let lower = name.lowercased()
            if lower == "transfer-encoding" { chunked = true; continue }
            if hopByHop.contains(lower) || droppedToward(lower) || named.contains(lower) { continue }
            out.add(name: name, value: value)
        }
        if chunked { out.add(name: "Transfer-Encoding", value: "chunked") }
        return out
    }

    static func droppedToward(_ lower: String) -> Bool {
        switch lower {
        case "host", "authorization", "cookie", "accept-encoding", "expect": return true
        default: return lower.hasPrefix("proxy-")
        }
    }

    /// The response head's fields as they go back to the caller: hop-by-hop and
    /// `Connection`-named fields removed. Framing is redone by the encoder.
    static func clientResponseHeaders(_ inbound: HTTPHeaders) -> HTTPHeaders {
        let named = inbound.contains(name: "connection") ? connectionNamed(in: inbound) : []
        var out = HTTPHeaders()
        out.reserveCapacity(inbound.count)
        for (name, value) in inbound {
            let lower = name.lowercased()
            if hopByHop.contains(lower) || named.contains(lower) || lower == "set-cookie" { continue }
            out.add(name: name, value: value)
        }
        return out
    }
}

extension StringProtocol where SubSequence == Substring {
    func trimmingASCIISpaces() -> Substring {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
