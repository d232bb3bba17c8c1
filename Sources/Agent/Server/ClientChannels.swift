import NIOConcurrencyHelpers
import NIOCore

/// The accepted client connections, so that shutdown can ask each to finish and close.
/// Touched once per connection (accept and close), never per request.
final class ClientChannels: Sendable {
    private let channels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        channels.withLockedValue { $0[key] = channel }
        channel.closeFuture.whenComplete { [channels] _ in
            channels.withLockedValue { _ = $0.removeValue(forKey: key) }
        }
    }

    var count: Int { channels.withLockedValue { $0.count } }

    /// Asks every connection to close after its current response; after `grace`, closes
    /// the ones still open.
    func drain(grace: TimeAmount) async {
        let open = channels.withLockedValue { Array($0.values) }
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(ProxyServerHandler.Quiesce())
        }
        let deadline = NIODeadline.now() + grace
        for channel in open {
            let left = deadline - .now()
            if left <= .zero { break }
            _ = try? await withTimeLimit(left) { try await channel.closeFuture.get() }
        }
        for channel in channels.withLockedValue({ Array($0.values) }) {
            try? await channel.close()
        }
    }
}
