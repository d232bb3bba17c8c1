import FoundationEssentials
import OAuth
#if canImport(Glibc)
import Glibc
#endif

/// `extra_headers_file`: static request fields for gateways that want more than a bearer
/// token (an API key). One `Name: value` per line; blank lines and `#` comments skipped.
/// The file must be the user's (or root's) and not readable by others, like a key file.
/// Names the proxy sets or drops itself are refused: a file must not replace the token, the
/// host or the framing, nor claim an identity a gateway could trust (SECURITY S9).
enum ExtraHeaders {
    static let refused: Set<String> = [
        "authorization", "host", "content-length", "transfer-encoding", "connection", "keep-alive",
        "te", "trailer", "upgrade", "proxy-authorization", "proxy-connection", "forwarded",
        "x-real-ip", "x-remote-user", "cookie", "expect", "accept-encoding", "via",
    ]

    /// The connection's fields for requests to its API base; none without a file.
    static func fields(for connection: Connection) throws(AgentError) -> [(name: String, value: String)] {
        guard let path = connection.extraHeadersFile else { return [] }
        return try read(path)
    }

    /// The fields, in file order. Errors name the file and line, never a value.
    static func read(_ path: String) throws(AgentError) -> [(name: String, value: String)] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw AgentError(.configuration, "extra_headers_file '\(path)' cannot be read (\(String(cString: strerror(errno)))).")
        }
        guard info.st_uid == getuid() || info.st_uid == 0 else {
            throw AgentError(.configuration, "extra_headers_file '\(path)' belongs to another user; it must be yours (or root's).")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw AgentError(.configuration, "extra_headers_file '\(path)' is readable by others; it holds secrets: chmod 600 '\(path)'.")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw AgentError(.configuration, "extra_headers_file '\(path)' cannot be read as UTF-8 text.")
        }
        var fields: [(name: String, value: String)] = []
        // "\r\n" is one Character in Swift: split on both.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let trimmed = line.trimming(while: { $0 == " " || $0 == "\t" })
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let colon = trimmed.firstIndex(of: ":") else {
                throw AgentError(.configuration, "extra_headers_file '\(path)' line \(index + 1): expected `Name: value`.")
            }
            let name = String(trimmed[..<colon])
            let value = trimmed[trimmed.index(after: colon)...].trimming(while: { $0 == " " || $0 == "\t" })
            guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte) else {
                throw AgentError(.configuration, "extra_headers_file '\(path)' line \(index + 1): '\(name)' is not a field name.")
            }
            let lower = name.lowercased()
            guard !refused.contains(lower), !lower.hasPrefix("x-forwarded-"), !lower.hasPrefix("proxy-") else {
                throw AgentError(.configuration, "extra_headers_file '\(path)' line \(index + 1): \(name) is set by the agent or never sent; remove it.")
            }
            guard value.utf8.allSatisfy({ $0 == 0x09 || (0x20...0x7E).contains($0) || $0 >= 0x80 }) else {
                throw AgentError(.configuration, "extra_headers_file '\(path)' line \(index + 1): the value of \(name) has a control character.")
            }
            fields.append((name, value))
        }
        return fields
    }

    /// RFC 9110 §5.6.2 `tchar`.
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
        default: return "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }
}
