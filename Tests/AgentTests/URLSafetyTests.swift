import Testing
@testable import Agent

/// Plain http is allowed only for loopback hosts (SECURITY S13): IP literals, not names
/// that merely start like one.
@Suite struct URLSafetyTests {
    @Test(arguments: ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]"])
    func loopback(_ host: String) { #expect(URLSafety.isLoopback(host: host)) }

    @Test(arguments: ["127.evil.example", "127.0.0.1.evil.example", "128.0.0.1", "127.0.0", "127.0.0.256", "localhost.evil.example", "example.com", "", "127..0.1"])
    func notLoopback(_ host: String) { #expect(!URLSafety.isLoopback(host: host)) }
}
