/// Who is at the other end of a local connection (SECURITY S8): from `SO_PEERCRED` on the
/// Unix socket (uid, gid, pid), from `/proc/net/tcp{,6}` on TCP (uid only).
public struct PeerCredentials: Sendable, Hashable, CustomStringConvertible {
    /// The peer's effective user id.
    public var uid: UInt32
    /// The peer's effective group id; `nil` on TCP.
    public var gid: UInt32?
    /// The peer's process id at connect time; `nil` on TCP.
    public var pid: Int32?

    public init(uid: UInt32, gid: UInt32? = nil, pid: Int32? = nil) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }

    public var description: String {
        "uid=\(uid)" + (pid.map { " pid=\($0)" } ?? "")
    }
}
