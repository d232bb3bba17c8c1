import OAuth

/// A request target of the proxy, `/jira/<name>/<rest>`: `name` is a connection id,
/// `default`, or a team (`ConnectionCatalog.resolve`); `rest` is the Jira path and query,
/// starting with `/` or `?`, or empty, as a range of the request head's bytes: it goes
/// upstream as it came.
struct ProxyRoute: Equatable {
    static let prefix = "/jira/"
    private static let prefixBytes: StaticString = "/jira/"

    let name: String
    let rest: Range<Int>

    /// `nil` when the head's target is not under `/jira/` or names nothing. (The parser let
    /// only visible ASCII into the target, so its bytes are its characters.)
    init?(_ head: ClientRequestHead) {
        let target = head.target
        guard head.targetHasPrefix(Self.prefixBytes) else { return nil }
        let found: (name: String, rest: Range<Int>)? = head.withBytes { raw in
            let start = target.lowerBound + Self.prefixBytes.utf8CodeUnitCount
            var end = start
            while end < target.upperBound, raw[end] != UInt8(ascii: "/"), raw[end] != UInt8(ascii: "?") { end += 1 }
            guard end != start,
                  let name = String(decoding: UnsafeRawBufferPointer(rebasing: raw[start..<end]), as: UTF8.self).removingPercentEncodingASCII()
            else { return nil }
            return (name, end..<target.upperBound)
        }
        // The name goes into `Location` and rewritten links: a decoded `%0D%0A` must not
        // split a response.
        guard let found, LinkRewriter.isLinkSafe(found.name) else { return nil }
        name = found.name
        rest = found.rest
    }

    /// Whether `rest` stays under the connection's base path: no dot-segments (`.`, `..`,
    /// also percent-encoded, also with path parameters: Tomcat, Jira's server, reads `..;x`
    /// as `..`), no backslashes, no encoded slash (a gateway that decodes `%2F` before it
    /// normalizes sees more segments), no empty first segment (`//host/…`). A gateway on a
    /// shared host (`https://api.example/jira`) must not receive the token for
    /// `/jira/../other-app` (SECURITY S9).
    func staysUnderBase(in head: ClientRequestHead) -> Bool {
        let path: String? = head.withBytes { raw in
            var end = rest.lowerBound
            while end < rest.upperBound, raw[end] != UInt8(ascii: "?") { end += 1 }
            let path = UnsafeRawBufferPointer(rebasing: raw[rest.lowerBound..<end])
            // The usual Jira path has no leading '//', no '.', '\\' or '%': nothing to look at
            // (hot path).
            let emptyFirst = path.count >= 2 && path[0] == UInt8(ascii: "/") && path[1] == UInt8(ascii: "/")
            if !emptyFirst, !path.contains(where: { $0 == 0x2E || $0 == 0x5C || $0 == 0x25 }) { return nil }
            return String(decoding: path, as: UTF8.self)
        }
        guard let path else { return true }
        if path.hasPrefix("//") { return false }
        let lowered = path.lowercased()
        if lowered.contains("\\") || lowered.contains("%5c") || lowered.contains("%2f") { return false }
        for segment in lowered.split(separator: "/", omittingEmptySubsequences: false) {
            let name = segment.prefix { $0 != ";" }  // path parameters off, as Tomcat does
            let decoded = name.replacing("%2e", with: ".")
            if decoded == "." || decoded == ".." { return false }
        }
        return true
    }
}
