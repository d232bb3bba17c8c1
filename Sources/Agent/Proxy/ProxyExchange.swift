import NIOCore
import NIOHTTP1

/// One request on its way through the proxy: what came in, where it goes, and how far the
/// response has got. Confined to the client channel's event loop.
final class ProxyExchange {
    /// How the upstream's response is being handled.
    enum Response {
        /// Nothing received yet.
        case waiting
        /// A 401 `invalid_token` that will be replaced by a retry (its body is dropped).
        case discardingRejection
        /// A JSON body collected for link rewriting (bounded by `maxRewriteBodySize`) in
        /// `bufferedHead` and `collected`. (Kept out of the enum: every `switch` over a
        /// payload-carrying case copied it, two retains and releases each time.)
        case buffering
        /// Head sent to the client; body parts pass through as they arrive, chunk-framed
        /// when `chunked`.
        case streaming(chunked: Bool)
        case finished
    }

    let head: ClientRequestHead
    let name: String
    let target: UpstreamTarget
    /// `Host` exactly as the client sent it (it is on the allowlist): the proxy base for
    /// rewritten links is `http://<clientHost>/jira/<name>`.
    let clientHost: String
    let expectsContinue: Bool

    /// The Jira path and query after `/jira/<name>`: a range of the head's bytes.
    var routeRest: Range<Int> = 0..<0
    var pool: UpstreamPool?
    var upstreamReused = false
    var token: String?
    /// The request head as it goes upstream (bearer included).
    var upstreamHead: ByteBuffer?
    /// The request body is sent chunk-framed.
    var upstreamChunked = false
    var upstream: UpstreamConnection?
    /// Body parts that arrived before the upstream was ready.
    /// (An array: empty, it allocates nothing; a CircularBuffer did on every request.)
    var pendingBody: [ByteBuffer] = []
    /// A copy of a small body, kept so the request can be replayed once.
    var replayBody: [ByteBuffer] = []
    var replayable: Bool
    var bodyBytes: Int64 = 0
    var requestEnded = false
    var endSentUpstream = false
    var retriedRejection = false
    var retriedConnection = false
    var response: Response = .waiting
    var bufferedHead: UpstreamResponseHead?
    var collected: ByteBuffer?
    var upstreamKeepAlive = false

    init(head: ClientRequestHead, name: String, target: UpstreamTarget, clientHost: String, maxReplayBodySize: Int) {
        self.head = head
        self.name = name
        self.target = target
        self.clientHost = clientHost
        self.expectsContinue = head.first("expect").map { field in
            head.withBytes { ASCIICaseless.equal($0, field.value, "100-continue") }
        } ?? false
        switch head.framing {
        case .chunked?: replayable = false
        case .length(let n)?: replayable = n <= maxReplayBodySize
        case .untilClose?, nil: replayable = true
        }
    }

    var responseStarted: Bool {
        switch response {
        case .streaming, .finished: return true
        case .waiting, .discardingRejection, .buffering: return false
        }
    }
}
