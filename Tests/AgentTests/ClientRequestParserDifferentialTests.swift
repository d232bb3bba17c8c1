import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import Agent

/// `ClientRequestParser` against llhttp (NIO's `HTTPRequestDecoder`, which read the agent's
/// requests before): thousands of mutated request streams, fed to both. Where both accept
/// requests they must agree on each one — method, target, version, fields, body — and so on
/// where each ends: a disagreement there is request smuggling. What only ours accepts must
/// be one of its deliberate leniencies: those of `UpstreamResponseParserDifferentialTests`
/// (a bare LF ending a head line, repeated identical lengths, whitespace in a chunk
/// extension, a tab around a field value), any token as the method (llhttp knows a fixed
/// list), any target (`RequestScreen` then refuses what is not origin-form), and requests
/// after one that is not keep-alive (llhttp stops there; the agent closes the connection
/// after answering it, so it never reads them either). llhttp
/// keeps whitespace at the end of a field value, which is not part of it (RFC 9110 §5.5):
/// its values are compared without it.
@Suite("Client request parser against llhttp")
struct ClientRequestParserDifferentialTests {
    struct Request: Equatable, CustomStringConvertible {
        var method: String
        var uri: String
        var minor: Int
        var headers: [String]
        var body: [UInt8] = []
        var description: String { "\(method) \(uri) 1.\(minor) \(headers) body \(body.count)" }
    }

    /// The complete requests before the first refusal or incomplete one, and whether a
    /// refusal ended them.
    struct Outcome {
        var requests: [Request] = []
        var refused = false
        private var current: Request?

        /// One part of a request, from either parser (llhttp keeps whitespace at the end of
        /// a value: compared without it).
        mutating func add(head: HTTPRequestHead) {
            current = Request(method: head.method.rawValue, uri: head.uri, minor: head.version.minor,
                              headers: head.headers.map { "\($0.name.lowercased()): \(ClientRequestParserDifferentialTests.trimmingTrailingWhitespace($0.value))" })
        }

        mutating func add(body: ByteBuffer) { current?.body += body.readableBytesView }

        mutating func end() {
            if let current { requests.append(current) }
            current = nil
        }
    }

    static func ours(_ bytes: [UInt8]) -> Outcome {
        var parser = ClientRequestParser(maxHeadSize: 64 * 1024)
        parser.append(ByteBuffer(bytes: bytes))
        var outcome = Outcome()
        do {
            while let event = try parser.next() {
                switch event {
                case .head(let head):
                    outcome.add(head: HTTPRequestHead(version: head.version, method: head.method, uri: head.uri,
                                                       headers: HTTPHeaders(head.fieldStrings.map { ($0.name, $0.value) })))
                case .body(let b): outcome.add(body: b)
                case .end: outcome.end()
                }
            }
        } catch {
            outcome.refused = true
        }
        return outcome
    }

    static func llhttp(_ bytes: [UInt8]) -> Outcome {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
        var outcome = Outcome()
        do {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        } catch {
            return outcome
        }
        do {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
        } catch {
            outcome.refused = true
        }
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
            switch part {
            case .head(let head): outcome.add(head: head)
            case .body(let b): outcome.add(body: b)
            case .end: outcome.end()
            }
        }
        return outcome
    }

    static func trimmingTrailingWhitespace(_ value: String) -> String {
        var value = Substring(value)
        while let last = value.last, last == " " || last == "\t" { value = value.dropLast() }
        return String(value)
    }

    /// A bare LF anywhere, more than one `Content-Length` value, a chunk line with
    /// whitespace in its extensions, a tab in a field line; or the first request only ours
    /// read has a method llhttp does not know or a target that is not origin-form, or
    /// follows one that is not keep-alive.
    static func usesALeniency(_ bytes: [UInt8], requests: [Request], firstOnlyOurs i: Int) -> Bool {
        let request = requests[i]
        if case .RAW = HTTPMethod(rawValue: request.method) { return true }
        if i > 0 {
            let before = requests[i - 1]
            let keepAlive = before.minor == 1 ? !before.headers.contains("connection: close")
                                              : before.headers.contains("connection: keep-alive")
            if !keepAlive { return true }
        }
        return !request.uri.hasPrefix("/") || UpstreamResponseParserDifferentialTests.usesALeniency(bytes)
    }

    static let seeds: [String] = [
        "GET /jira/acme/rest/api/2/myself HTTP/1.1\r\nHost: localhost:7744\r\nAccept: application/json\r\n\r\n",
        "POST /jira/acme/rest/api/2/issue HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":\"bcd\"}",
        "PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: b\r\n\r\n",
        "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n",
        "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "DELETE /jira/acme/rest/api/2/issue/A-1?x=1&y=%20 HTTP/1.1\r\nHost: [::1]:7744\r\nCookie: a=b\r\n\r\n",
        // The classic smuggling shapes: refused as they are, mutated into everything near them.
        "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n1\r\nx\r\n0\r\n\r\n",
    ]

    /// Bytes that matter to framing, and some that must never pass.
    static let alphabet: [UInt8] = Array("\r\n \t:;,0129aAfF-Hh/.".utf8) + [0x00, 0x7F, 0x80, 0x0B]

    @Test func whereBothAcceptTheyAgree() {
        var rng = SplitMix(seed: 0x5EED_4321)
        var agreed = 0, onlyOurs = 0, onlyLLHTTP = 0, bothRefused = 0
        var disagreements: [String] = [], unexplained: [String] = []
        for round in 0..<20000 {
            let bytes = rng.mutated(Array(Self.seeds[round % Self.seeds.count].utf8), alphabet: Self.alphabet)
            let a = Self.ours(bytes), b = Self.llhttp(bytes)
            let common = min(a.requests.count, b.requests.count)
            if a.requests.prefix(common) != b.requests.prefix(common) {
                if disagreements.count < 5 {
                    disagreements.append("\(String(reflecting: String(decoding: bytes, as: UTF8.self))): ours \(a.requests), llhttp \(b.requests)")
                }
                continue
            }
            switch (a.requests.count, b.requests.count) {
            case let (x, y) where x == y && x > 0: agreed += 1
            case let (x, y) where x > y:
                onlyOurs += 1
                if !Self.usesALeniency(bytes, requests: a.requests, firstOnlyOurs: y), unexplained.count < 5 {
                    unexplained.append("\(String(reflecting: String(decoding: bytes, as: UTF8.self))): ours \(a.requests), llhttp \(b.requests)")
                }
            case let (x, y) where x < y: onlyLLHTTP += 1
            default: bothRefused += 1
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.joined(separator: "\n"))")
        #expect(unexplained.isEmpty, "accepted only by ours, without a documented leniency: \(unexplained.joined(separator: "\n"))")
        #expect(agreed > 4000, "too few accepted cases to mean anything: \(agreed)")
        print("request differential: \(agreed) agreed, \(bothRefused) refused by both, \(onlyLLHTTP) only llhttp accepted, \(onlyOurs) only ours accepted")
    }
}
