import NIOCore
import Testing
@testable import Agent

/// `UpstreamResponseParser` without sockets: every framing of RFC 9112 §6.3, bytes split at
/// every position, and the responses it must refuse rather than guess at.
@Suite("Upstream response parser")
struct UpstreamResponseParserTests {
    /// What the parser made of some bytes: heads, the body concatenated, whether it ended.
    struct Parsed {
        var heads: [UpstreamResponseHead] = []
        var body: [UInt8] = []
        var ended = false
        var status: Int? { heads.first?.status }
        func field(_ name: StaticString) -> String? {
            guard let head = heads.first, let f = head.first(name) else { return nil }
            return head.string(f)
        }
    }

    /// Feeds `bytes` in pieces of `split` bytes (all at once when nil).
    static func parse(_ text: String, toHEAD: Bool = false, split: Int? = nil, closeAtEnd: Bool = false,
                      parser: inout UpstreamResponseParser) throws(UpstreamResponseParser.ParseError) -> Parsed {
        let bytes = Array(text.utf8)
        var parsed = Parsed()
        parser.expectResponse(toHEAD: toHEAD)
        let step = split ?? max(1, bytes.count)
        var i = 0
        repeat {
            let piece = bytes[i..<min(bytes.count, i + step)]
            parser.append(ByteBuffer(bytes: piece))
            while let event = try parser.next() {
                switch event {
                case .head(let head): parsed.heads.append(head)
                case .body(let buffer): parsed.body += buffer.readableBytesView
                case .end: parsed.ended = true
                }
            }
            i += step
        } while i < bytes.count
        if closeAtEnd, let event = parser.inputClosed(), case .end = event { parsed.ended = true }
        return parsed
    }

    static func parse(_ text: String, toHEAD: Bool = false, split: Int? = nil, closeAtEnd: Bool = false) throws(UpstreamResponseParser.ParseError) -> Parsed {
        var parser = UpstreamResponseParser(maxHeadSize: 1024)
        return try parse(text, toHEAD: toHEAD, split: split, closeAtEnd: closeAtEnd, parser: &parser)
    }

    static let chunked = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "5;ext=1\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\nX-Trailer: t\r\n\r\n"

    @Test func contentLengthBodyAtEverySplit() throws {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A:  spaced value \t\r\n\r\nhello world"
        for split in [nil, 1, 2, 3, 7, 16] as [Int?] {
            let p = try Self.parse(text, split: split)
            #expect(p.status == 200 && p.ended, "split \(String(describing: split))")
            #expect(String(decoding: p.body, as: UTF8.self) == "hello world")
            #expect(p.field("x-a") == "spaced value")
            #expect(p.heads.first?.framing == .length(11))
            #expect(p.heads.first?.keepAlive == true)
        }
    }

    @Test func chunkedBodyIsDechunkedAtEverySplit() throws {
        for split in [nil, 1, 2, 5, 9] as [Int?] {
            let p = try Self.parse(Self.chunked, split: split)
            #expect(p.ended && String(decoding: p.body, as: UTF8.self) == "{\"a\": 1}", "split \(String(describing: split))")
            #expect(p.heads.first?.framing == .chunked)
        }
    }

    @Test func bodyUntilCloseEndsWithTheConnection() throws {
        let p = try Self.parse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", closeAtEnd: true)
        #expect(p.ended && String(decoding: p.body, as: UTF8.self) == "all of it")
        #expect(p.heads.first?.framing == .untilClose)
        #expect(p.heads.first?.keepAlive == false, "a close-delimited response cannot leave the connection reusable")
        let open = try Self.parse("HTTP/1.1 200 OK\r\n\r\npartial")
        #expect(!open.ended)
    }

    @Test func noBodyForHEAD204And304WhateverTheFieldsSay() throws {
        let head = try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", toHEAD: true)
        #expect(head.ended && head.body.isEmpty && head.heads.first?.contentLength == 500)
        #expect(head.heads.first?.framing == UpstreamResponseHead.Framing.none)
        for status in [204, 304] {
            let p = try Self.parse("HTTP/1.1 \(status) X\r\n\r\n")
            #expect(p.ended && p.body.isEmpty && p.heads.first?.framing == UpstreamResponseHead.Framing.none)
        }
    }

    @Test func informationalResponsesAreSkipped() throws {
        let p = try Self.parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", split: 4)
        #expect(p.heads.count == 1 && p.status == 201 && p.ended)
        #expect(throws: UpstreamResponseParser.ParseError.self) { try Self.parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n") }
        #expect(throws: UpstreamResponseParser.ParseError.self) { try Self.parse("HTTP/1.0 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\n") }
    }

    @Test func keepAliveFollowsVersionAndConnection() throws {
        #expect(try Self.parse("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n").heads[0].keepAlive == false)
        #expect(try Self.parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").heads[0].keepAlive == false)
        #expect(try Self.parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").heads[0].keepAlive == true)
    }

    @Test func bareLineFeedsAndAnEmptyReasonAreAccepted() throws {
        let p = try Self.parse("HTTP/1.1 200\nContent-Length: 2\n\nok")
        #expect(p.status == 200 && p.ended && p.body == Array("ok".utf8))
        #expect(p.heads[0].reason.isEmpty)
    }

    @Test func emptyLinesBeforeTheStatusLineAreSkipped() throws {
        let p = try Self.parse("\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", split: 1)
        #expect(p.status == 200 && p.ended && p.body == Array("ok".utf8))
    }

    @Test func chunkExtensionsAndTrailersOfTheGrammarAreAccepted() throws {
        let p = try Self.parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "2 ; a = 1 ; b=\"q \\\" ;\"\r\nab\r\n1;c\r\nc\r\n0\r\nX-T: 1\r\nY: \r\n\r\n", split: 3)
        #expect(p.ended && p.body == Array("abc".utf8))
    }

    @Test func sameLengthsRepeatedAreOneLength() throws {
        let p = try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok")
        #expect(p.ended && p.heads[0].framing == .length(2))
    }

    /// Responses a lenient reader could take as something else: each is refused.
    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",   // both framings
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",             // lengths disagree
        "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",                   // a coding the proxy cannot pass on
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",                   // folded line
        "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n",                      // bare CR
        "HTTP/1.1 200 OK\r\nX-A: a\u{01}b\r\nContent-Length: 0\r\n\r\n",                  // control character
        "HTTP/1.1 200 OK\r\nX A: b\r\nContent-Length: 0\r\n\r\n",                         // space in a name
        "HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 0\r\n\r\n",                        // space before the colon
        "HTTP/1.1 200 OK\r\n: b\r\nContent-Length: 0\r\n\r\n",                            // no name
        "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",                      // not a chunk size
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",        // 16 hex digits
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",                // data longer than its size
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 x\r\nab\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n",            // bare LF in the framing
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nnot a field\r\n\r\n",  // trailer line
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=\r\nab\r\n0\r\n\r\n",       // extension without a value
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;\u{80}x\r\nab\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=\"a\r\nab\r\n0\r\n\r\n",     // unterminated quoted value
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nab\r\n0\r\n\r\n",          // whitespace with no extension
    ])
    func ambiguousResponsesAreRefused(_ text: String) {
        #expect(throws: UpstreamResponseParser.ParseError.self) { _ = try Self.parse(text) }
    }

    @Test func headsAndTrailersAreBounded() {
        let long = "HTTP/1.1 200 OK\r\nX-A: " + String(repeating: "a", count: 2000) + "\r\n\r\n"
        #expect(throws: UpstreamResponseParser.ParseError.self) { _ = try Self.parse(long) }
        #expect(throws: UpstreamResponseParser.ParseError.self) { _ = try Self.parse(long, split: 100) }
        let trailers = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
            + String(repeating: "X-T: 0123456789\r\n", count: 100) + "\r\n"
        #expect(throws: UpstreamResponseParser.ParseError.self) { _ = try Self.parse(trailers) }
    }

    @Test func bytesAfterAResponseAreKeptAsUnread() throws {
        var parser = UpstreamResponseParser()
        let p = try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", parser: &parser)
        #expect(p.ended && p.body == Array("ok".utf8))
        #expect(parser.isIdle && parser.hasUnreadBytes, "a connection with bytes nobody asked for is not reused")
        var clean = UpstreamResponseParser()
        _ = try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", parser: &clean)
        #expect(clean.isIdle && !clean.hasUnreadBytes)
        // The same parser reads the next response on the connection.
        let second = try Self.parse("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", parser: &clean)
        #expect(second.status == 404 && second.ended)
    }

    @Test func fieldsFilteredForTheClient() throws {
        let p = try Self.parse("HTTP/1.1 200 OK\r\nConnection: X-Secret, keep-alive\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\n"
            + "Set-Cookie: a=b\r\nProxy-Authenticate: Basic\r\nUpgrade: h2c\r\nContent-Length: 0\r\nLocation: /x\r\nX-Kept: k\r\n\r\n")
        var out = ByteBuffer()
        out.write(reserving: 1024) { HopByHopHeaders.writeClientResponseFields(p.heads[0], into: &$0) }
        #expect(String(buffer: out) == "X-Kept: k\r\n", "Content-Length and Location are the caller's to write")
    }

    @Test func agentAnswersFrameTheirBodies() {
        let a = ByteBufferAllocator()
        let body = Array(#"{"error":"x"}"#.utf8)
        let plain = String(buffer: HTTPWire.response(a, minor: 1, status: 404, headers: [("Content-Type", "application/json")], body: body, close: false))
        #expect(plain == "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n" + #"{"error":"x"}"#)
        let head = String(buffer: HTTPWire.response(a, minor: 1, status: 404, headers: [], body: body, toHEAD: true, close: true))
        #expect(head == "HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\nConnection: close\r\n\r\n", "HEAD: the length, no body")
        let noContent = String(buffer: HTTPWire.response(a, minor: 0, status: 204, headers: [("Bad Name", "x"), ("X-Split", "a\r\nSet-Cookie: b")], body: [], close: false))
        #expect(noContent == "HTTP/1.0 204 No Content\r\n\r\n", "no length for 204, unsafe fields left out")
    }

    @Test func chunkHeadersAreLowerCaseHex() {
        #expect(String(buffer: HTTPWire.chunkHeader(ByteBufferAllocator(), size: 1)) == "1\r\n")
        #expect(String(buffer: HTTPWire.chunkHeader(ByteBufferAllocator(), size: 255)) == "ff\r\n")
        #expect(String(buffer: HTTPWire.chunkHeader(ByteBufferAllocator(), size: 65536)) == "10000\r\n")
        var out = ByteBuffer()
        for n in [0, 7, 10, 1056, 1_000_000_007, Int.max] { out.write(reserving: 20) { $0.appendDecimal(n) }; out.writeStaticString(",") }
        #expect(String(buffer: out) == "0,7,10,1056,1000000007,\(Int.max),")
    }
}
