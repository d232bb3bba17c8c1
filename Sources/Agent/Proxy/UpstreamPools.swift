import NIOCore
import NIOSSL

/// The upstream side of one event loop: a pool per connection, and each connection's parsed
/// target, rebuilt when the catalog changes it (SIGHUP reload). Confined to its event loop.
final class UpstreamPools {
    private struct Entry {
        let connection: Connection
        let target: UpstreamTarget
        let pool: UpstreamPool
    }

    private let eventLoop: any EventLoop
    private let configuration: ProxyConfiguration
    private let tls: TLSContexts
    private var entries: [String: Entry] = [:]

    init(eventLoop: any EventLoop, configuration: ProxyConfiguration, tls: TLSContexts) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.tls = tls
    }

    /// The target and pool for `connection`, reusing both while its configuration is unchanged.
    func lookup(_ connection: Connection) throws -> (UpstreamTarget, UpstreamPool) {
        if let entry = entries[connection.id], entry.connection == connection {
            return (entry.target, entry.pool)
        }
        entries[connection.id]?.pool.closeAll()
        let target = try UpstreamTarget(connection: connection)
        let context = target.scheme == .https ? try tls.context(target.tlsOptions) : nil
        let pool = UpstreamPool(eventLoop: eventLoop, target: target, tls: context, configuration: configuration)
        entries[connection.id] = Entry(connection: connection, target: target, pool: pool)
        return (target, pool)
    }

    func closeAll() {
        for entry in entries.values { entry.pool.closeAll() }
        entries.removeAll()
    }
}
