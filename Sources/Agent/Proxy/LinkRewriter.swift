import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rewrites absolute links to the connection's Jira or gateway base into links to the proxy
/// (issue 5), so clients that follow `self` stay on the proxy: the Python `jira` library
/// does `PUT <issue.self>` (TEST-STACK-NOTES, "Jira stand-in").
///
/// Works on bytes: each base is matched plainly and JSON-escaped (`https:\/\/host\/ctx`),
/// and only at a boundary (`/`, `"`, `?`, `#`, `\` or the end), so `https://host/ctxfoo`
/// is left alone.
struct LinkRewriter {
    private struct Pattern {
        let from: [UInt8]
        let to: [UInt8]
    }

    /// Where a pattern's bytes are in `bytes`: `from` then `to`.
    private struct Span {
        let from: Int, fromCount: Int, to: Int, toCount: Int
    }

    /// Every pattern's bytes in one array, so the scan takes no reference per candidate.
    private let bytes: [UInt8]
    private let spans: [Span]

    /// - Parameters:
    ///   - bases: absolute bases without trailing slash (`UpstreamTarget.rewriteBases`).
    ///   - proxyBase: e.g. `http://127.0.0.1:7744/jira/acme`, without trailing slash.
    init(bases: [String], proxyBase: String) {
        var patterns: [Pattern] = []
        for base in bases where !base.isEmpty {
            patterns.append(Pattern(from: Array(base.utf8), to: Array(proxyBase.utf8)))
            if base.contains("/") {
                patterns.append(Pattern(from: Array(Self.jsonEscaped(base).utf8), to: Array(Self.jsonEscaped(proxyBase).utf8)))
            }
        }
        var bytes: [UInt8] = [], spans: [Span] = []
        for p in patterns.sorted(by: { $0.from.count > $1.from.count }) {
            spans.append(Span(from: bytes.count, fromCount: p.from.count, to: bytes.count + p.from.count, toCount: p.to.count))
            bytes += p.from
            bytes += p.to
        }
        self.bytes = bytes
        self.spans = spans
    }

    /// Whether `text` can be put into a header value and a JSON string as it is: visible
    /// ASCII without `"` and `\` (the proxy base and the connection names in it).
    static func isLinkSafe(_ text: String) -> Bool {
        text.utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != 0x22 && $0 != 0x5C }
    }

    static func jsonEscaped(_ s: String) -> String {
        s.replacingSlashes()
    }

    /// The rewritten bytes, or `nil` when nothing matched (the caller keeps the original).
    func rewrite(_ input: ByteBuffer) -> ByteBuffer? {
        guard !spans.isEmpty else { return nil }
        return input.withUnsafeReadableBytes { bytes -> ByteBuffer? in
            self.bytes.withUnsafeBytes { patternBytes in
                spans.withUnsafeBufferPointer { spans in
                    Self.rewrite(bytes, patternBytes, spans)
                }
            }
        }
    }

    private static func rewrite(_ bytes: UnsafeRawBufferPointer, _ patternBytes: UnsafeRawBufferPointer,
                                _ spans: UnsafeBufferPointer<Span>) -> ByteBuffer? {
        var output: ByteBuffer? = nil
        var copied = 0
        var i = 0
        let n = bytes.count
        guard let base = bytes.baseAddress, let patterns = patternBytes.baseAddress else { return nil }
        while i < n {
            // Every pattern starts with `h` (http/https): jump to the next candidate.
            guard let hit = memchr(base + i, Int32(UInt8(ascii: "h")), n - i) else { break }
            i = UnsafeRawPointer(hit) - base
            var matched: Span? = nil
            for span in spans where i + span.fromCount <= n {
                if memcmp(base + i, patterns + span.from, span.fromCount) == 0, isBoundary(bytes, at: i + span.fromCount) {
                    matched = span
                    break
                }
            }
            guard let span = matched else { i += 1; continue }
            if output == nil {
                output = ByteBufferAllocator().buffer(capacity: n + 256)
            }
            output!.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[copied..<i]))
            output!.writeBytes(UnsafeRawBufferPointer(start: patterns + span.to, count: span.toCount))
            i += span.fromCount
            copied = i
        }
        guard var out = output else { return nil }
        out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[copied..<n]))
        return out
    }

    /// Rewrites a header value such as `Location` when it starts with a base.
    func rewrite(_ value: String) -> String? {
        var buffer = ByteBuffer(string: value)
        guard let out = rewrite(buffer) else { return nil }
        buffer = out
        return buffer.readString(length: buffer.readableBytes)
    }

    private static func isBoundary(_ bytes: UnsafeRawBufferPointer, at i: Int) -> Bool {
        guard i < bytes.count else { return true }
        switch bytes[i] {
        case UInt8(ascii: "/"), UInt8(ascii: "\""), UInt8(ascii: "?"), UInt8(ascii: "#"), UInt8(ascii: "\\"):
            return true
        default:
            return false
        }
    }
}

extension String {
    /// `/` → `\/`, as JSON encoders such as Jira's may write it.
    func replacingSlashes() -> String {
        var out = ""
        out.reserveCapacity(utf8.count + 8)
        for ch in self { if ch == "/" { out += "\\/" } else { out.append(ch) } }
        return out
    }
}
