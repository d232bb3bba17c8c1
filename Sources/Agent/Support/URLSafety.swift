import Foundation

/// Small URL predicates shared by the configuration, the authorizer and the proxy.
enum URLSafety {
    /// `127.0.0.0/8`, `::1` and `localhost` (RFC 8252 §8.3 prefers the IP literals).
    static func isLoopback(host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }
}
