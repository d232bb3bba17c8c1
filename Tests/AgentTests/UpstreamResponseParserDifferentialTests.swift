import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import Agent

/// `UpstreamResponseParser` against llhttp (NIO's `HTTPResponseDecoder`, which the proxy used
/// before): thousands of mutated responses, fed to both. Where both accept a response they
/// must agree on its status, its body and where it ends — a disagreement is how a proxy and
/// a server come to read one stream differently (desync, response splitting). Where only one
/// accepts, that is a difference in strictness: llhttp accepts more (control characters in
/// the reason, unknown transfer codings read to the close), and what only ours accepts must
/// be one of its deliberate leniencies — a bare LF ending a head line (RFC 9112 §2.2),
/// repeated identical lengths (RFC 9110 §8.6), whitespace around a chunk extension's `;`
/// and `=` (the BWS of RFC 9112 §7.1.1), and a tab around a field value (OWS, RFC 9110
/// §5.6.3) — each of which llhttp refuses.
@Suite("Upstream response parser against llhttp")
struct UpstreamResponseParserDifferentialTests {
    struct Outcome: Equatable {
        var status: Int
        var body: [UInt8]
    }

    /// Ours: the first complete response, or nil when refused or incomplete.
    static func ours(_ bytes: [UInt8]) -> Outcome? {
        var parser = UpstreamResponseParser(maxHeadSize: 64 * 1024)
        parser.expectResponse(toHEAD: false)
        parser.append(ByteBuffer(bytes: bytes))
        var status: Int?
        var body: [UInt8] = []
        do {
            while let event = try parser.next() {
                switch event {
                case .head(let head): status = head.status
                case .body(let b): body += b.readableBytesView
                case .end: return status.map { Outcome(status: $0, body: body) }
                }
            }
        } catch { return nil }
        if case .end? = parser.inputClosed() { return status.map { Outcome(status: $0, body: body) } }
        return nil
    }

    /// llhttp: the first complete response, or nil when refused or incomplete.
    static func llhttp(_ bytes: [UInt8]) -> Outcome? {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
        do {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPResponseDecoder(informationalResponseStrategy: .drop)))
            try channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")))
            try channel.writeOutbound(HTTPClientRequestPart.end(nil))
        } catch { return nil }
        var status: Int?
        var body: [UInt8] = []
        func drain() throws -> Outcome? {
            while let part = try channel.readInbound(as: HTTPClientResponsePart.self) {
                switch part {
                case .head(let head): status = Int(head.status.code)
                case .body(let b): body += b.readableBytesView
                case .end: return status.map { Outcome(status: $0, body: body) }
                }
            }
            return nil
        }
        do {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
        } catch {
            // An error in bytes after a complete response leaves that response standing.
            return (try? drain()) ?? nil
        }
        do {
            if let done = try drain() { return done }
            channel.pipeline.fireChannelInactive()  // the server closes: a close-delimited body ends
            return try drain()
        } catch {
            return nil
        }
    }

    /// A bare LF anywhere, more than one `Content-Length` value, a chunk line with
    /// whitespace in its extensions, or a tab in a field line.
    static func usesALeniency(_ bytes: [UInt8]) -> Bool {
        for (i, b) in bytes.enumerated() where b == 0x0A && (i == 0 || bytes[i - 1] != 0x0D) { return true }
        let text = String(decoding: bytes, as: UTF8.self).lowercased()
        let lines = text.components(separatedBy: "\r\n")
        return text.components(separatedBy: "content-length:").count > 2
            || lines.contains { $0.hasPrefix("content-length:") && $0.contains(",") }
            || lines.contains { line in
                line.first?.isHexDigit == true && line.contains(";") && (line.contains(" ") || line.contains("\t"))
            }
            || lines.contains { $0.contains(":") && $0.contains("\t") }
    }

    static let seeds: [String] = [
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":\"bcd\"}",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n",
        "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close\r\n\r\nnop",
        "HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
        "HTTP/1.1 302 Found\r\nLocation: http://x/y\r\nContent-Length: 0\r\n\r\n",
    ]

    /// Bytes that matter to framing, and some that must never pass.
    static let alphabet: [UInt8] = Array("\r\n \t:;,0129aAfF-Hh".utf8) + [0x00, 0x7F, 0x80, 0x0B]

    @Test func whereBothAcceptTheyAgree() {
        var rng = SplitMix(seed: 0x5EED_1234)
        var agreed = 0, onlyOurs = 0, onlyLLHTTP = 0, bothRefused = 0
        var disagreements: [String] = [], unexplained: [String] = []
        for round in 0..<20000 {
            let bytes = rng.mutated(Array(Self.seeds[round % Self.seeds.count].utf8), alphabet: Self.alphabet)
            switch (Self.ours(bytes), Self.llhttp(bytes)) {
            case (let a?, let b?):
                if a == b { agreed += 1 } else if disagreements.count < 5 {
                    disagreements.append("\(String(reflecting: String(decoding: bytes, as: UTF8.self))): ours \(a.status)/\(a.body.count), llhttp \(b.status)/\(b.body.count)")
                }
            case (.some, nil):
                onlyOurs += 1
                if !Self.usesALeniency(bytes), unexplained.count < 5 { unexplained.append(String(reflecting: String(decoding: bytes, as: UTF8.self))) }
            case (nil, .some): onlyLLHTTP += 1
            case (nil, nil): bothRefused += 1
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.joined(separator: "\n"))")
        #expect(unexplained.isEmpty, "accepted only by ours, without a bare LF or a repeated length: \(unexplained.joined(separator: "\n"))")
        #expect(agreed > 4000, "too few accepted cases to mean anything: \(agreed)")
        print("differential: \(agreed) agreed, \(bothRefused) refused by both, \(onlyLLHTTP) only llhttp accepted, \(onlyOurs) only ours accepted")
    }
}

/// A small deterministic generator (SplitMix64), so a failure reproduces.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// An HTTP message with one to three mutations: a byte of `alphabet` inserted or put in
    /// place of another, a byte removed, or a field line repeated (duplicate lengths and
    /// encodings).
    mutating func mutated(_ message: [UInt8], alphabet: [UInt8]) -> [UInt8] {
        var bytes = message
        for _ in 0..<(1 + Int(next() % 3)) {
            let at = Int(next() % UInt64(bytes.count + 1))
            switch next() % 4 {
            case 0: bytes.insert(alphabet[Int(next() % UInt64(alphabet.count))], at: at)
            case 1: if at < bytes.count { bytes.remove(at: at) }
            case 2: if at < bytes.count { bytes[at] = alphabet[Int(next() % UInt64(alphabet.count))] }
            default:
                let lines = String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n")
                if lines.count > 2 {
                    let i = 1 + Int(next() % UInt64(lines.count - 2))
                    var copy = lines
                    copy.insert(lines[i], at: i)
                    bytes = Array(copy.joined(separator: "\r\n").utf8)
                }
            }
        }
        return bytes
    }
}
