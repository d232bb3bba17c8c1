extension OAuthError {
    /// The error a non-success response stands for (RFC 6749 §5.2): a 3xx is `.redirected`;
    /// a JSON object with a string `error` is `.oauth` whatever the status (400, 401,
    /// 403 alike); anything else — an empty or HTML body — is `.httpStatus`.
    /// The body is never copied into the error.
    init(errorResponse response: HTTPResponseSpec) {
        if response.isRedirect {
            self.init(code: .redirected, httpStatus: response.status)
            return
        }
        if let object = JSONValue.object(from: response),
            let error = object["error"]?.stringValue.flatMap(Sanitize.errorCode)
        {
            self.init(
                code: .oauth, oauthError: error,
                errorDescription: object["error_description"]?.stringValue,
                httpStatus: response.status)
            return
        }
        self.init(code: .httpStatus, httpStatus: response.status, detail: Self.bodyShape(response))
    }

    /// The JSON object of a successful (200) response, or the error it stands for.
    /// A 200 whose object carries a string `error` (some servers do this) is that error.
    static func successObject(_ response: HTTPResponseSpec) throws -> [String: JSONValue] {
        if response.body.count > HTTPResponseSpec.maximumBodySize {
            throw OAuthError(
                code: .invalidResponse, httpStatus: response.status,
                detail: "the body is larger than \(HTTPResponseSpec.maximumBodySize) bytes")
        }
        guard response.status == 200 else {
            if (200...299).contains(response.status) {
                throw OAuthError(
                    code: .invalidResponse, httpStatus: response.status,
                    detail: "the status should be 200")
            }
            throw OAuthError(errorResponse: response)
        }
        guard let object = JSONValue.object(from: response) else {
            throw OAuthError(
                code: .invalidResponse, httpStatus: response.status,
                detail: bodyShape(response) ?? "the body is not a JSON object")
        }
        if object["error"]?.stringValue.flatMap(Sanitize.errorCode) != nil {
            throw OAuthError(errorResponse: response)
        }
        return object
    }

    /// A few words on what the body looked like, never its content.
    static func bodyShape(_ response: HTTPResponseSpec) -> String? {
        if response.body.isEmpty { return "the body is empty" }
        if response.body.count > HTTPResponseSpec.maximumBodySize {
            return "the body is larger than \(HTTPResponseSpec.maximumBodySize) bytes"
        }
        let start = response.body.prefix(512).drop { [0x20, 0x09, 0x0A, 0x0D, 0xEF, 0xBB, 0xBF].contains($0) }
        if start.first == UInt8(ascii: "<") { return "the body is an HTML or XML page, not JSON" }
        if JSONValue.object(from: response) == nil { return "the body is not a JSON object" }
        return nil
    }

    /// A required field was missing or had the wrong kind.
    static func invalidField(_ detail: String, status: Int = 200) -> OAuthError {
        OAuthError(code: .invalidResponse, httpStatus: status, detail: detail)
    }
}
