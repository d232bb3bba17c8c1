import FoundationEssentials
import Glibc
import Synchronization

/// Standard output and error written directly, whole (as `FileHandle` did): the token,
/// JSON documents and messages. `print` is used for ordinary lines. A failed write (a full
/// disk, a closed pipe) makes the command exit with 74 (EX_IOERR), never 0.
enum Output {
    private static let failed = Atomic<Bool>(false)

    /// The exit status of a command that succeeded: 0, or 74 when output was lost.
    static func successStatus() -> Int32 {
        if fflush(nil) != 0 { failed.store(true, ordering: .relaxed) }
        guard failed.load(ordering: .relaxed) else { return 0 }
        let message = Array("Error: the output could not be written completely.\n".utf8)
        _ = Glibc.write(2, message, message.count)
        return ExitCodes.ioError
    }

    static func stdout(_ text: String) { write(Array(text.utf8), to: 1) }
    static func stdout(_ data: Data) { write(Array(data), to: 1) }
    static func stderr(_ text: String) { write(Array(text.utf8), to: 2) }

    private static func write(_ bytes: [UInt8], to fd: Int32) {
        fflush(nil)  // anything `print` buffered goes first
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    if fd == 1 { failed.store(true, ordering: .relaxed) }
                    return
                }
                offset += n
            }
        }
    }
}

extension String {
    /// The string as one path segment: everything but RFC 3986's unreserved characters
    /// percent-encoded (a `/` in a connection name stays inside the segment).
    var percentEncodedPathSegment: String {
        var out = ""
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF")
                out.append("%"); out.append(hex[Int(byte >> 4)]); out.append(hex[Int(byte & 0x0F)])
            }
        }
        return out
    }
}
