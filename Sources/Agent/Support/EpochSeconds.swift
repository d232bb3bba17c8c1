import FoundationEssentials

/// Seconds since 1970 as an integer, without trapping on a hostile or corrupt date
/// (SECURITY S10): `nil` outside ±2^53.
enum EpochSeconds {
    static func of(_ date: Date) -> Int64? {
        let t = date.timeIntervalSince1970.rounded(.down)
        guard t.isFinite, abs(t) < 9_007_199_254_740_992 else { return nil }
        return Int64(t)
    }
}
