public import FoundationEssentials
public import NIOCore

/// The proxy's bounds and behaviour (issue 5, "The proxy"; SECURITY S9). Every bound has a
/// default a desktop user should not need to change.
public struct ProxyConfiguration: Sendable {
    /// With no usable token: wait for the one browser authorization (`true`) or answer 401
    /// with the `jira-auth-agent login <id>` guidance at once (`false`).
    public var interactive: Bool
    /// The longest a request waits for a token (authorization or refresh) before it is
    /// answered 401.
    public var tokenWait: TimeAmount
    /// A cached token must stay valid at least this long to be sent.
    public var minTokenValidity: TimeInterval
    /// The largest request body forwarded; larger ones get 413.
    public var maxRequestBodySize: Int64
    /// The largest request head (request line and all header fields); larger ones get 431.
    public var maxHeaderSize: Int
    /// JSON responses up to this size are buffered and their links rewritten; larger ones
    /// pass through unmodified, streamed.
    public var maxRewriteBodySize: Int
    /// Request bodies up to this size are kept so the request can be replayed once after a
    /// 401 `invalid_token`; larger bodies are streamed and the 401 is passed on.
    public var maxReplayBodySize: Int
    /// TCP connect to the upstream.
    public var upstreamConnectTimeout: TimeAmount
    /// From the request sent to the upstream's response head.
    public var upstreamResponseTimeout: TimeAmount
    /// No byte moved in either direction of a running exchange for this long: abort it.
    public var stallTimeout: TimeAmount
    /// An idle client connection (no request in progress) is closed after this long; a
    /// request head must be complete within it too.
    public var clientIdleTimeout: TimeAmount
    /// Pooled upstream connections unused for this long are closed.
    public var upstreamIdleTimeout: TimeAmount
    /// Idle upstream connections kept per connection and event loop.
    public var maxIdleUpstreamConnections: Int
    /// `HTTPS_PROXY`: https upstreams are reached through a CONNECT tunnel unless
    /// `NO_PROXY` exempts them.
    public var forwardProxy: ForwardProxy?

    public init(
        interactive: Bool = true,
        tokenWait: TimeAmount = .seconds(120),
        minTokenValidity: TimeInterval = 10,
        maxRequestBodySize: Int64 = 1 << 30,
        maxHeaderSize: Int = 32 * 1024,
        maxRewriteBodySize: Int = 8 << 20,
        maxReplayBodySize: Int = 64 * 1024,
        upstreamConnectTimeout: TimeAmount = .seconds(10),
        upstreamResponseTimeout: TimeAmount = .seconds(120),
        stallTimeout: TimeAmount = .seconds(60),
        clientIdleTimeout: TimeAmount = .seconds(60),
        upstreamIdleTimeout: TimeAmount = .seconds(50),
        maxIdleUpstreamConnections: Int = 64,
        forwardProxy: ForwardProxy? = nil
    ) {
        self.interactive = interactive
        self.tokenWait = tokenWait
        self.minTokenValidity = minTokenValidity
        self.maxRequestBodySize = maxRequestBodySize
        self.maxHeaderSize = maxHeaderSize
        self.maxRewriteBodySize = maxRewriteBodySize
        self.maxReplayBodySize = maxReplayBodySize
        self.upstreamConnectTimeout = upstreamConnectTimeout
        self.upstreamResponseTimeout = upstreamResponseTimeout
        self.stallTimeout = stallTimeout
        self.clientIdleTimeout = clientIdleTimeout
        self.upstreamIdleTimeout = upstreamIdleTimeout
        self.maxIdleUpstreamConnections = maxIdleUpstreamConnections
        self.forwardProxy = forwardProxy
    }
}
