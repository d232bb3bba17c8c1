import OAuth

/// A request target of the proxy, `/jira/<name>/<rest>`: `name` is a connection id,
/// `default`, or a team (`ConnectionCatalog.resolve`); `rest` is the Jira path and query,
/// starting with `/` or `?`, or empty.
struct ProxyRoute: Equatable {
    static let prefix = "/jira/"

    let name: String
    let rest: Substring

    /// `nil` when `uri` is not under `/jira/` or names nothing.
    init?(uri: String) {
        guard uri.hasPrefix(Self.prefix) else { return nil }
        // ASCII (the usual case, and all the agent's request parser lets through): bytes are
        // Characters, so scan the bytes.
        var whole = uri
        let ascii: (nameEnd: Int, name: String?)? = whole.withUTF8 { b in
            guard b.allSatisfy({ $0 < 0x80 }) else { return nil }
            let start = Self.prefix.utf8.count
            var end = start
            while end < b.count, b[end] != UInt8(ascii: "/"), b[end] != UInt8(ascii: "?") { end += 1 }
            guard end != start else { return (end, nil) }
            return (end, String(decoding: UnsafeBufferPointer(rebasing: b[start..<end]), as: UTF8.self).removingPercentEncodingASCII())
        }
        if let ascii {
            guard let decoded = ascii.name else { return nil }
            name = decoded
            rest = uri[uri.utf8.index(uri.utf8.startIndex, offsetBy: ascii.nameEnd)...]
        } else {
            // Non-ASCII: a combining mark may join a delimiter into another Character.
            let tail = uri.dropFirst(Self.prefix.utf8.count)
            let end = tail.firstIndex { $0 == "/" || $0 == "?" } ?? tail.endIndex
            let raw = tail[..<end]
            guard !raw.isEmpty, let decoded = String(raw).removingPercentEncodingASCII() else { return nil }
            name = decoded
            rest = tail[end...]
        }
        // The name goes into `Location` and rewritten links: a decoded `%0D%0A` must not
        // split a response.
        guard LinkRewriter.isLinkSafe(name) else { return nil }
    }
}

extension ProxyRoute {
    /// Whether `rest` stays under the connection's base path: no dot-segments (`.`, `..`,
    /// also percent-encoded), no backslashes, no empty first segment (`//host/…`). A gateway
    /// on a shared host (`https://api.example/jira`) must not receive the token for
    /// `/jira/../other-app` (SECURITY S9).
    var staysUnderBase: Bool {
        // On the bytes: '?', '/', '.', '\\' and '%' are ASCII and never part of a longer
        // UTF-8 sequence (Character-wise iteration was 2 % of the proxy's CPU).
        var rest = self.rest
        let (path, clean): (Substring, Bool?) = rest.withUTF8 { b in
            var end = 0
            while end < b.count, b[end] != UInt8(ascii: "?") { end += 1 }
            let path = UnsafeBufferPointer(rebasing: b[..<end])
            if path.count >= 2, path[0] == UInt8(ascii: "/"), path[1] == UInt8(ascii: "/") { return ("", false) }
            // The usual Jira path has no '.', '\\' or '%': nothing to look at (hot path).
            if !path.contains(where: { $0 == 0x2E || $0 == 0x5C || $0 == 0x25 }) { return ("", true) }
            return (Substring(String(decoding: path, as: UTF8.self)), nil)
        }
        if let clean { return clean }
        let lowered = path.lowercased()
        if lowered.contains("\\") || lowered.contains("%5c") { return false }
        for segment in lowered.split(separator: "/", omittingEmptySubsequences: false) {
            let decoded = segment.replacing("%2e", with: ".")
            if decoded == "." || decoded == ".." { return false }
        }
        return true
    }
}
