import Foundation

/// A parsed JSON value that keeps the JSON kinds apart (a `true` is not a `1`), so that
/// hostile fields are classified before any conversion (SECURITY S10). Numbers are kept
/// as `Double`, which holds `1e300` and `9223372036854775808` without trapping.
enum JSONValue: Sendable, Equatable, Decodable {
    case null, bool(Bool), number(Double), string(String)
    case array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else {
            self = .array(try container.decode([JSONValue].self))
        }
    }

    /// The body of `response` as a JSON object, or `nil` when it is empty, too large,
    /// not JSON, or not an object. The size is checked before parsing; Foundation's
    /// parser bounds the nesting depth.
    static func object(from response: HTTPResponseSpec) -> [String: JSONValue]? {
        guard !response.body.isEmpty, response.body.count <= HTTPResponseSpec.maximumBodySize,
            case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: response.body)
        else { return nil }
        return object
    }

    /// The string, when this is one.
    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}
