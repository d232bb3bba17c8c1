import FoundationEssentials
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The authenticating reverse proxy (DESIGN §6, issue 5): what every client connection's
/// `ProxyServerHandler` shares — the catalog, the token provider, the bounds, and one set of
/// upstream pools per event loop.
final class JiraProxy: Sendable {
    let catalog: @Sendable () -> ConnectionCatalog
    let tokens: any AccessTokenProvider
    let configuration: ProxyConfiguration
    let logger: Logger
    private let tls = TLSContexts()
    private let pools = NIOLockedValueBox<[ObjectIdentifier: NIOLoopBound<UpstreamPools>]>([:])

    init(catalog: @escaping @Sendable () -> ConnectionCatalog, tokens: any AccessTokenProvider,
         configuration: ProxyConfiguration, logger: Logger) {
        self.catalog = catalog
        self.tokens = tokens
        self.configuration = configuration
        self.logger = logger
    }

    /// The pools of `eventLoop`; called once per client connection, on that loop.
    func pools(for eventLoop: any EventLoop) -> UpstreamPools {
        let key = ObjectIdentifier(eventLoop)
        if let bound = pools.withLockedValue({ $0[key] }) { return bound.value }
        let created = UpstreamPools(eventLoop: eventLoop, configuration: configuration, tls: tls)
        pools.withLockedValue { $0[key] = NIOLoopBound(created, eventLoop: eventLoop) }
        return created
    }

    /// Closes idle upstream connections on every loop (shutdown).
    func closeIdleConnections() {
        for bound in pools.withLockedValue({ Array($0.values) }) {
            bound.eventLoop.execute { bound.value.closeAll() }
        }
    }

    /// 404 hint: the names a caller may use.
    func knownNames() -> String {
        let c = catalog()
        var names = c.connections.map(\.id)
        if c.defaultConnection != nil { names.append("default") }
        names += c.teams.keys.sorted()
        return names.isEmpty ? "no connections are configured" : "known: " + names.joined(separator: ", ")
    }
}
