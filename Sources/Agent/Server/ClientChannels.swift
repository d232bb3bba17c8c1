import NIOConcurrencyHelpers
import NIOCore

/// The accepted client connections, so that shutdown can ask each to finish and close.
/// Touched once per connection (accept and close), never per request.
final class ClientChannels: Sendable {
    private let channels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    /// Connections the fast lane handed over whose channels are not set up yet.
    private let adoptions = NIOLockedValueBox(0)

    func adoptionStarted() { adoptions.withLockedValue { $0 += 1 } }
    func adoptionEnded() { adoptions.withLockedValue { $0 -= 1 } }

    func add(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        channels.withLockedValue { $0[key] = channel }
        channel.closeFuture.whenComplete { [channels] _ in
            channels.withLockedValue { _ = $0.removeValue(forKey: key) }
        }
    }

    var count: Int { channels.withLockedValue { $0.count } }

    /// Asks every connection to close after its current response; after `grace`, closes
    /// the ones still open. The deadline is kept by each channel's event loop: a wait on a
    /// `closeFuture` cannot be cancelled, so a time limit around it would last as long as
    /// the slowest connection (a client lingering after its last answer: a minute).
    func drain(grace: TimeAmount) async {
        // Hand-offs already under way (none start once the fast lane is stopping) join the
        // list first; a few milliseconds at most.
        let settle = ContinuousClock.now + .seconds(1)
        while adoptions.withLockedValue({ $0 }) > 0, ContinuousClock.now < settle {
            try? await Task.sleep(for: .milliseconds(2))
        }
        let open = channels.withLockedValue { Array($0.values) }
        let deadline = NIODeadline.now() + grace
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(ProxyServerHandler.Quiesce())
            let cutoff = channel.eventLoop.scheduleTask(deadline: deadline) { channel.close(promise: nil) }
            channel.closeFuture.whenComplete { _ in cutoff.cancel() }
        }
        for channel in open {
            try? await channel.closeFuture.get()
        }
        for channel in channels.withLockedValue({ Array($0.values) }) {
            try? await channel.close()
        }
    }
}
