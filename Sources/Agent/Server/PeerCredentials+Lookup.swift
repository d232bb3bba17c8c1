import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `struct ucred` of <sys/socket.h> (Linux), which Glibc's module map does not export
/// without `_GNU_SOURCE`: three 32-bit fields, no padding.
private struct UCred: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

extension PeerCredentials {
    /// The effective uid of this process; the only peer the agent serves.
    static var currentUID: UInt32 { UInt32(geteuid()) }

    /// `SO_PEERCRED` of an accepted Unix-socket channel (SECURITY S8). Must be called on the
    /// channel's event loop; completes at once there.
    static func ofUnixSocket(_ channel: any Channel) -> EventLoopFuture<PeerCredentials> {
        #if os(Linux)
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(AgentError(.internalError, "the channel exposes no socket options"))
        }
        let future: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return future.map { PeerCredentials(uid: $0.uid, gid: $0.gid, pid: $0.pid) }
        #else
        return channel.eventLoop.makeFailedFuture(AgentError(.internalError, "SO_PEERCRED is only available on Linux"))
        #endif
    }
}
