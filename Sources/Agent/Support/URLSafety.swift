import FoundationEssentials
import OAuth

/// Small URL predicates shared by the configuration, the authorizer and the proxy.
enum URLSafety {
    /// `127.0.0.0/8`, `::1` and `localhost` (RFC 8252 §8.3 prefers the IP literals).
    static func isLoopback(host: String) -> Bool {
        let h = host.lowercased().trimming { $0 == "[" || $0 == "]" }
        if h == "localhost" || h == "::1" { return true }
        // An IPv4 literal in 127.0.0.0/8 — not a DNS name such as 127.evil.example.
        let octets = h.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.first == "127"
            && octets.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) && Int($0)! <= 255 }
    }
}
