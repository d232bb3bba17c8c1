/// Reads one top-level string field from the agent's compact JSON answer, with the escapes
/// of RFC 8259 §7. Only for our own server's output; anything unexpected gives nil (and
/// the full CLI takes over).
enum JSONField {
    static func string(named name: String, in json: ArraySlice<UInt8>) -> String? {
        let key = Array("\"\(name)\":".utf8)
        guard let start = json.firstRange(of: key)?.upperBound else { return nil }
        var i = start
        while i < json.endIndex, json[i] == 0x20 { i += 1 }
        guard i < json.endIndex, json[i] == 0x22 else { return nil }
        i += 1
        var out: [UInt8] = []
        while i < json.endIndex {
            let b = json[i]
            if b == 0x22 { return String(decoding: out, as: UTF8.self) }
            if b == 0x5C {
                i += 1
                guard i < json.endIndex else { return nil }
                switch json[i] {
                case 0x22, 0x5C, 0x2F: out.append(json[i])
                case 0x6E: out.append(0x0A)
                case 0x72: out.append(0x0D)
                case 0x74: out.append(0x09)
                default: return nil   // \u escapes: not in tokens; let the full CLI decode it
                }
            } else {
                out.append(b)
            }
            i += 1
        }
        return nil
    }
}
