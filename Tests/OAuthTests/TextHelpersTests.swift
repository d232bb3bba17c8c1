import Foundation
import OAuth
import Testing

/// The Foundation-free string helpers (OAuth/TextHelpers.swift) and JSONValue's encoding,
/// which replaced `trimmingCharacters`, `removingPercentEncoding` and `JSONSerialization`.
@Suite struct TextHelpersTests {
    @Test func trimmingWhitespaceMatchesFoundation() {
        for text in ["  secret \n", "\t\r\nsecret", "secret", "   ", "", " a b ", "\u{00A0}x\u{2003}"] {
            #expect(text.trimmingWhitespace() == text.trimmingCharacters(in: .whitespacesAndNewlines), "\(text.debugDescription)")
        }
    }

    @Test func trimmingAPredicateKeepsTheMiddle() {
        #expect("[::1]".trimming { $0 == "[" || $0 == "]" } == "::1")
        #expect("[[]]".trimming { $0 == "[" || $0 == "]" } == "")
        #expect("a[b]c".trimming { $0 == "[" || $0 == "]" } == "a[b]c")
    }

    @Test(arguments: ["plain", "a%20b", "%E2%9C%93", "%2e%2E", "100%25", "a+b", ""])
    func percentDecodingMatchesFoundation(_ text: String) {
        #expect(text.removingPercentEncodingASCII() == text.removingPercentEncoding)
    }

    @Test(arguments: ["%", "%4", "%zz", "%C3%28", "a%G1"])
    func malformedEscapesAreRefused(_ text: String) {
        #expect(text.removingPercentEncodingASCII() == nil)
    }

    @Test func jsonValueEncodesWholeNumbersAsIntegers() throws {
        let value: [String: JSONValue] = ["min_valid": 30, "interactive": true, "name": "acme", "ratio": .number(0.5)]
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(value), as: UTF8.self)
        #expect(text == #"{"interactive":true,"min_valid":30,"name":"acme","ratio":0.5}"#)
        #expect(JSONValue.object(from: Data(text.utf8)) == value)
        #expect(JSONValue.object(from: Data("[1]".utf8)) == nil)
    }
}
