import NIOCore
import NIOHTTP1
import OAuth

/// How the body of a response to the client is delimited.
enum ClientFraming: Equatable {
    /// No body (HEAD, 204, 304); the upstream's `Content-Length`, if any, is kept.
    case none(contentLength: Int?)
    case length(Int)
    case chunked
    /// HTTP/1.0 has no chunking: the body ends when the connection does.
    case closeDelimited

    /// How a body framed by the upstream as `head` goes on to a client speaking HTTP/1.`minor`.
    init(streaming head: UpstreamResponseHead, requestMinor minor: Int) {
        switch head.framing {
        case .none: self = .none(contentLength: head.status == 204 ? nil : head.contentLength)
        case .length(let n): self = .length(n)
        case .chunked, .untilClose: self = minor == 0 ? .closeDelimited : .chunked
        }
    }
}

/// The messages both ways through the proxy: the request head sent upstream and the
/// response head sent to the client (`ProxyServerHandler` writes them).
enum ProxyMessages {
    /// POST, PUT and PATCH: methods whose requests servers expect to say how long the body is.
    static func expectsBody(_ method: HTTPMethod) -> Bool {
        switch method {
        case .POST, .PUT, .PATCH: return true
        default: return false
        }
    }

    /// The request head as it goes upstream: the method, the target under the connection's
    /// base path, the client's end-to-end fields (`HopByHopHeaders`), `Host` and the bearer
    /// token; and whether its body goes chunk-framed.
    static func upstreamRequestHead(_ head: ClientRequestHead, rest: Range<Int>, target: UpstreamTarget, bearer: String,
                                    allocator: ByteBufferAllocator) -> (head: ByteBuffer, chunked: Bool) {
        let method = head.method.rawValue
        // Everything written, counted generously: the kept field lines are at most the
        // client's head plus a CR each.
        let reserve = 160 + method.utf8.count + target.targetCount(rest: rest.count) + target.hostHeader.utf8.count
            + bearer.utf8.count + head.bytes.readableBytes + head.fields.count + target.extraFieldLines.utf8.count
        var out = allocator.buffer(capacity: reserve)
        var framing = (chunked: false, hasLength: false)
        out.write(reserving: reserve) { w in
            w.append(method)
            w.append(" ")
            head.withBytes { raw in
                target.writeRequestTarget(rest: UnsafeRawBufferPointer(rebasing: raw[rest]), into: &w)
            }
            w.append(" HTTP/1.1\r\n")
            framing = HopByHopHeaders.writeUpstreamRequestFields(head, host: target.hostHeader, bearer: bearer,
                                                                 extraLines: target.extraFieldLines, extraNames: target.extraFieldNames, into: &w)
            if !framing.chunked, !framing.hasLength, expectsBody(head.method) {
                // No framing from the caller means no body (RFC 9112 §6.3); some servers want it said.
                w.append("Content-Length: 0\r\n")
            }
            w.append("\r\n")
        }
        return (out, framing.chunked)
    }

    /// The response head as the client gets it: the upstream's status and reason, its
    /// fields filtered (`HopByHopHeaders`), `Location` rewritten to the proxy, the proxy's own
    /// framing and connection fields; `extraCapacity` bytes more room in the buffer for a
    /// body to follow. With `close`, the head says the connection ends after it.
    static func clientResponseHead(_ head: UpstreamResponseHead, requestMinor: Int, framing: ClientFraming, close: Bool,
                                   links: LinkRewriter, basePath: String, name: String,
                                   allocator: ByteBufferAllocator, extraCapacity: Int = 0) -> ByteBuffer {
        // `Location`: the upstream's value, or the rewritten one when it is safe to write.
        var location: Range<Int>?, rewritten: String?
        if let field = head.first("location"), !head.listContains("location", in: "connection") {
            location = field.value
            let value = head.string(field)
            if let r = links.rewrite(value) ?? relativeLocation(value, basePath: basePath, name: name),
               r.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) {
                // (A value with a control character is not written; the upstream's own,
                // parser-checked value stays.)
                rewritten = r
            }
        }
        let minor = requestMinor == 0 ? 0 : 1
        // Everything written, counted generously: the kept field lines are at most the
        // upstream's head plus a CR each; the rest is bounded constants and `Location`.
        let reserve = head.bytes.readableBytes + head.fields.count + (rewritten?.utf8.count ?? 0) + 160
        var out = allocator.buffer(capacity: reserve + extraCapacity)
        out.write(reserving: reserve) { w in
            w.append(minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
            w.appendDecimal(min(max(head.status, 100), 999))
            w.append(" ")
            head.withBytes { raw in
                w.append(UnsafeRawBufferPointer(rebasing: raw[head.reason]))
                w.append("\r\n")
                HopByHopHeaders.writeClientResponseFields(head, into: &w)
                if let location {
                    w.append("Location: ")
                    if let rewritten { w.append(rewritten) } else { w.append(UnsafeRawBufferPointer(rebasing: raw[location])) }
                    w.append("\r\n")
                }
            }
            switch framing {
            case .none(let length):
                if let length { w.append("Content-Length: "); w.appendDecimal(length); w.append("\r\n") }
            case .length(let length):
                w.append("Content-Length: ")
                w.appendDecimal(length)
                w.append("\r\n")
            case .chunked:
                w.append("Transfer-Encoding: chunked\r\n")
            case .closeDelimited:
                break
            }
            if close {
                w.append("Connection: close\r\n")
            } else if minor == 0 {
                w.append("Connection: keep-alive\r\n")
            }
            w.append("\r\n")
        }
        return out
    }

    /// The largest collected body written into its head's buffer rather than after it.
    static let maxBodyWithHead = 16 * 1024

    /// A collected body with its links rewritten, behind the head `head(length,
    /// extraCapacity)` makes for it: a small body in the head's own buffer, one write (a
    /// write per buffer costs more than copying a few KiB), a larger one as a second buffer.
    static func collectedAnswer(_ body: ByteBuffer, links: LinkRewriter,
                                head: (_ length: Int, _ extraCapacity: Int) -> ByteBuffer) -> (ByteBuffer, ByteBuffer?) {
        var rewritten = links.rewrite(body) ?? body
        let length = rewritten.readableBytes
        guard length > maxBodyWithHead else {
            var out = head(length, length)
            out.writeBuffer(&rewritten)
            return (out, nil)
        }
        return (head(length, 0), rewritten)
    }

    /// A JSON body (not content-encoded) up to `limit` bytes, as far as the head tells, is
    /// collected and its links rewritten.
    static func shouldRewriteBody(_ head: UpstreamResponseHead, limit: Int) -> Bool {
        guard head.framing != .none else { return false }
        // First field of each name; ASCII case-insensitive comparisons on the bytes.
        guard let type = head.first("content-type"),
              head.withBytes({ ASCIICaseless.contains(UnsafeRawBufferPointer(rebasing: $0[type.value]), ASCIICaseless.bytes("json")) })
        else { return false }
        if let encoding = head.first("content-encoding"),
           !head.withBytes({ ASCIICaseless.equal($0, encoding.value, "identity") }) { return false }
        if let length = head.contentLength, length > limit { return false }
        return true
    }

    /// A path-absolute `Location` under the upstream's base path becomes a path on the proxy.
    static func relativeLocation(_ location: String, basePath base: String, name: String) -> String? {
        guard location.hasPrefix("/"), !location.hasPrefix("//") else { return nil }
        guard location.hasPrefix(base) else { return nil }
        let rest = location.dropFirst(base.count)
        guard rest.isEmpty || rest.first == "/" || rest.first == "?" else { return nil }
        return ProxyRoute.prefix + name + rest
    }
}

/// The agent's answers in place of an upstream's, alike on both paths.
extension RequestRefusal {
    /// No connection to the upstream: 504 when the connect timed out, 502 otherwise.
    static func upstreamUnreachable(_ target: UpstreamTarget, timedOut: Bool) -> RequestRefusal {
        RequestRefusal(status: timedOut ? .gatewayTimeout : .badGateway, code: "upstream_unreachable",
                       message: "the Jira server \(target.hostHeader) could not be reached")
    }

    /// The upstream connection failed before a response could be passed on.
    static func upstreamFailed(_ target: UpstreamTarget) -> RequestRefusal {
        RequestRefusal(status: .badGateway, code: "upstream_failed",
                       message: "the connection to the Jira server \(target.hostHeader) failed")
    }

    /// No response head, or no progress, from the upstream in time.
    static let upstreamTimeout = RequestRefusal(status: .gatewayTimeout, code: "upstream_timeout",
                                                message: "the Jira server did not answer in time")
}

/// The last link rewriter built, reused while the client keeps the same base: keyed by what
/// the proxy base is made of, so a hit builds no string.
struct RewriterCache {
    private var last: (host: String, name: String, bases: [String], rewriter: LinkRewriter)?

    mutating func rewriter(clientHost: String, name: String, target: UpstreamTarget) -> LinkRewriter {
        if let last, last.host == clientHost, last.name == name, last.bases == target.rewriteBases { return last.rewriter }
        // The proxy base goes into `Location` and JSON strings: only visible ASCII without
        // `"` and `\` (the client's Host and a catalog name), else links stay as they are.
        let base = "http://\(clientHost)\(ProxyRoute.prefix)\(name)"
        let rewriter = LinkRewriter(bases: LinkRewriter.isLinkSafe(base) ? target.rewriteBases : [], proxyBase: base)
        last = (clientHost, name, target.rewriteBases, rewriter)
        return rewriter
    }
}

/// The last `Authorization` value built, reused while the token is the same.
struct BearerCache {
    private var last: (token: String, header: String)?

    /// `Bearer <token>`, or `nil` for a token that cannot be sent in a header. The one header
    /// value that comes from neither the HTTP parser nor the configuration (outbound header
    /// validation is off; AgentServer+Listeners says why): checked once per token. Token
    /// responses are checked the same way when parsed, but a keyring item is not a parser.
    mutating func header(for token: String) -> String? {
        if let last, last.token == token { return last.header }
        guard token.isPrintableASCII else { return nil }
        let header = "Bearer " + token
        last = (token, header)
        return header
    }
}
