import NIOCore
import NIOHTTP1
import Testing
@testable import Agent

/// `ClientRequestParser` without sockets: the framings a request may have, bytes split at
/// every position, pipelined requests, and the requests it must refuse rather than guess at
/// (SECURITY S9: it decides where one request ends and the next begins).
@Suite("Client request parser")
struct ClientRequestParserTests {
    struct Request: Equatable {
        var method: String
        var uri: String
        var minor: Int
        var headers: [String]
        var body: [UInt8] = []
        var ended = false
    }

    /// Every request the bytes hold, fed in pieces of `split` bytes (all at once when nil).
    static func parse(_ text: String, split: Int? = nil, maxHeadSize: Int = 1024) throws(HTTP1ParseError) -> [Request] {
        let bytes = Array(text.utf8)
        var parser = ClientRequestParser(maxHeadSize: maxHeadSize)
        var requests: [Request] = []
        let step = split ?? max(1, bytes.count)
        var i = 0
        repeat {
            parser.append(ByteBuffer(bytes: bytes[i..<min(bytes.count, i + step)]))
            while let event = try parser.next() {
                switch event {
                case .head(let head):
                    requests.append(Request(method: head.method.rawValue, uri: head.uri, minor: head.version.minor,
                                            headers: head.fieldStrings.map { "\($0.name)=\($0.value)" }))
                case .body(let buffer): requests[requests.count - 1].body += buffer.readableBytesView
                case .end: requests[requests.count - 1].ended = true
                }
            }
            i += step
        } while i < bytes.count
        return requests
    }

    static func refusal(_ text: String, maxHeadSize: Int = 1024) -> HTTP1ParseError? {
        do {
            _ = try parse(text, maxHeadSize: maxHeadSize)
            return nil
        } catch {
            return error
        }
    }

    @Test func framingsAtEverySplit() throws {
        let text = "GET /jira/acme/rest/api/2/myself?expand=x HTTP/1.1\r\nHost: 127.0.0.1:7744\r\nAccept:  application/json \t\r\n\r\n"
            + "POST /jira/acme/rest/api/2/issue HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\n{\"a\":\"bcd\"}"
            + "PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n"
            + "HEAD /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        for split in [nil, 1, 2, 3, 7, 16] as [Int?] {
            let requests = try Self.parse(text, split: split)
            #expect(requests == [
                Request(method: "GET", uri: "/jira/acme/rest/api/2/myself?expand=x", minor: 1,
                        headers: ["Host=127.0.0.1:7744", "Accept=application/json"], ended: true),
                Request(method: "POST", uri: "/jira/acme/rest/api/2/issue", minor: 1,
                        headers: ["Host=localhost", "Content-Length=11"], body: Array("{\"a\":\"bcd\"}".utf8), ended: true),
                Request(method: "PUT", uri: "/x", minor: 1, headers: ["Host=a", "Transfer-Encoding=chunked"],
                        body: Array("hello world".utf8), ended: true),
                Request(method: "HEAD", uri: "/old", minor: 0, headers: ["Connection=keep-alive"], ended: true),
            ], "split \(String(describing: split))")
        }
    }

    @Test func aRequestIsNotCompleteBeforeItsBodyIs() throws {
        let requests = try Self.parse("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabc")
        #expect(requests.count == 1 && requests[0].body == Array("abc".utf8) && !requests[0].ended)
        #expect(try Self.parse("GET /a HTTP/1.1\r\nHost: a\r\n").isEmpty, "a head without its empty line is incomplete")
    }

    @Test func emptyLinesBeforeARequestAndBareLineFeedsInTheHeadAreAccepted() throws {
        let requests = try Self.parse("\r\n\r\nGET /a HTTP/1.1\nHost: a\n\n")
        #expect(requests == [Request(method: "GET", uri: "/a", minor: 1, headers: ["Host=a"], ended: true)])
    }

    @Test func sameLengthsRepeatedAreOneLength() throws {
        let requests = try Self.parse("POST /a HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nokGET /b HTTP/1.1\r\n\r\n")
        #expect(requests.map(\.uri) == ["/a", "/b"] && requests[0].body == Array("ok".utf8))
    }

    /// Each would let the agent and a server disagree on where a request ends, or is not
    /// HTTP/1.1 at all.
    @Test(arguments: [
        ("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", HTTP1ParseError.Kind.malformed),
        ("POST /a HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", .malformed),
        ("POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", .malformed),
        ("POST /a HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n", .malformed),
        ("POST /a HTTP/1.1\r\nContent-Length: +3\r\n\r\n", .malformed),
        ("POST /a HTTP/1.1\r\nContent-Length: 0x3\r\n\r\n", .malformed),
        ("POST /a HTTP/1.1\r\nContent-Length:\r\n\r\n", .malformed),
        ("POST /a HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", .malformed),
        ("POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .unsupportedTransferCoding),
        ("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", .unsupportedTransferCoding),
        ("POST /a HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", .unsupportedTransferCoding),
        ("POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .malformed),
        ("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", .malformed),
        ("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!\r\n0\r\n\r\n", .malformed),
        ("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", .malformed),
        ("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n", .malformed),
        ("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", .malformed),
        ("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"\\\u{1}\"\r\nhello\r\n0\r\n\r\n", .malformed),
        ("GET /a HTTP/1.1\r\nX-A: b\r\n folded\r\n\r\n", .malformed),
        ("GET /a HTTP/1.1\r\nX-A : b\r\n\r\n", .malformed),
        ("GET /a HTTP/1.1\r\n: b\r\n\r\n", .malformed),
        ("GET /a HTTP/1.1\r\nX-A: b\rc\r\n\r\n", .malformed),
        ("GET /a HTTP/1.1\r\nX-A: b\u{0}c\r\n\r\n", .malformed),
        ("GET /a HTTP/1.1\r\nX-A\r\n\r\n", .malformed),
        ("GET  /a HTTP/1.1\r\n\r\n", .malformed),
        ("GET /a  HTTP/1.1\r\n\r\n", .malformed),
        ("GET /a\tb HTTP/1.1\r\n\r\n", .malformed),
        ("GET /a\u{7F} HTTP/1.1\r\n\r\n", .malformed),
        ("GET /ä HTTP/1.1\r\n\r\n", .malformed),
        ("G(T /a HTTP/1.1\r\n\r\n", .malformed),
        ("GET /a\r\n\r\n", .malformed),
        ("GET /a HTTP/1.1 \r\n\r\n", .malformed),
        ("GET /a http/1.1\r\n\r\n", .malformed),
        ("GET /a HTTP/1.10\r\n\r\n", .malformed),
        ("GET /a HTTP/2.0\r\n\r\n", .unsupportedVersion),
        ("GET /a HTTP/0.9\r\n\r\n", .unsupportedVersion),
        ("GET /a HTTP/1.2\r\n\r\n", .unsupportedVersion),
    ])
    func ambiguousRequestsAreRefused(_ text: String, kind: HTTP1ParseError.Kind) {
        #expect(Self.refusal(text)?.kind == kind, "\(String(reflecting: text))")
    }

    @Test func theHeadIsBoundedAsAWhole() throws {
        let field = "X-Long: " + String(repeating: "v", count: 900) + "\r\n"
        #expect(Self.refusal("GET /a HTTP/1.1\r\n" + field + field + "\r\n")?.kind == .headTooLarge,
                "fields under the limit each, over it together")
        #expect(Self.refusal("GET /a HTTP/1.1\r\n" + field + String(repeating: "y", count: 200))?.kind == .headTooLarge,
                "refused before the head is complete")
        #expect(try Self.parse("GET /a HTTP/1.1\r\n" + field + "\r\n").count == 1)
        let trailers = "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + field + field + "\r\n"
        #expect(Self.refusal(trailers) != nil, "the trailer section is bounded like a head")
    }

    /// Values are checked eight bytes at a time: a control character is found at every
    /// position of a long value, and tab, space and obs-text pass everywhere.
    @Test func controlCharactersAreFoundAtEveryPositionOfAValue() throws {
        let value = Array(String(repeating: "abcdefghij", count: 4).utf8)
        func request(_ value: [UInt8]) -> ByteBuffer {
            ByteBuffer(bytes: Array("GET /a HTTP/1.1\r\nX-Long: ".utf8) + value + Array("\r\n\r\n".utf8))
        }
        for position in 0..<value.count {
            for bad: UInt8 in [0x00, 0x01, 0x08, 0x0B, 0x0D, 0x1F, 0x7F] {
                var v = value
                v[position] = bad
                #expect(throws: HTTP1ParseError.self, "byte \(bad) at \(position)") { _ = try ClientRequestParser.parse(request(v)) }
            }
            for good: UInt8 in [0x09, 0x20, 0x7E, 0x80, 0xFF] where position > 0 && position < value.count - 1 {
                var v = value
                v[position] = good
                #expect(throws: Never.self, "byte \(good) at \(position)") { _ = try ClientRequestParser.parse(request(v)) }
            }
        }
    }

    @Test func tokenBytesTest() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for b in UInt8.min...UInt8.max {
            #expect(HTTP1Reader.isTokenByte(b) == tchar.contains(b), "byte \(b)")
        }
    }

    @Test func aPipelinedRequestStaysUnreadUntilAsked() throws {
        var parser = ClientRequestParser(maxHeadSize: 1024)
        parser.append(ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HT"))
        guard case .head(let first)? = try parser.next(), case .end? = try parser.next() else {
            Issue.record("the first request was not read")
            return
        }
        #expect(first.uri == "/a")
        #expect(parser.hasUnreadBytes, "the start of the next request is kept")
        #expect(try parser.next() == nil, "the second request is not complete yet")
        parser.append(ByteBuffer(string: "TP/1.1\r\nHost: a\r\n\r\n"))
        guard case .head(let second)? = try parser.next() else {
            Issue.record("the pipelined request was not read")
            return
        }
        #expect(second.uri == "/b" && !parser.hasUnreadBytes)
    }

    static func head(_ text: String) throws -> ClientRequestHead {
        var parser = ClientRequestParser(maxHeadSize: 1024)
        parser.append(ByteBuffer(string: text))
        guard case .head(let head)? = try parser.next() else { throw HTTP1ParseError("no head") }
        return head
    }

    /// What the proxy reads off a head without strings: keep-alive (RFC 9112 §9.3), whether a
    /// body follows and its length, and the fields as NIO's type for the token API.
    @Test(arguments: [
        ("GET / HTTP/1.1\r\n\r\n", true),
        ("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", false),
        ("GET / HTTP/1.1\r\nConnection: te, close\r\n\r\n", false),
        ("GET / HTTP/1.0\r\n\r\n", false),
        ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        ("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false),
    ])
    func keepAlive(_ text: String, _ expected: Bool) throws {
        #expect(try Self.head(text).isKeepAlive == expected)
    }

    @Test func bodyFramingAndFields() throws {
        let none = try Self.head("GET /a?b HTTP/1.1\r\nHost: h\r\nX-A:  1 \r\n\r\n")
        #expect(!none.hasBody && none.contentLength == nil)
        #expect(none.uri == "/a?b" && none.targetHasPrefix("/a?") && !none.targetHasPrefix("/a?bc"))
        #expect(none.fieldStrings.map { "\($0.name)=\($0.value)" } == ["Host=h", "X-A=1"])
        let zero = try Self.head("POST / HTTP/1.1\r\nContent-Length: 00\r\n\r\n")
        #expect(!zero.hasBody && zero.contentLength == 0)
        let five = try Self.head("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n")
        #expect(five.hasBody && five.contentLength == 5)
        let chunked = try Self.head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(chunked.hasBody && chunked.contentLength == nil)
    }
}
