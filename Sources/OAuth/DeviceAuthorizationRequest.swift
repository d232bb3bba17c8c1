public import FoundationEssentials

/// The device authorization request (RFC 8628 §3.1), used when no browser can be opened
/// on this machine: the user approves on another device.
public struct DeviceAuthorizationRequest: Sendable, Equatable {
    /// `scope`, omitted when `nil` or empty.
    public var scope: String?

    public init(scope: String?) {
        self.scope = scope
    }

    /// `POST` to the `device_authorization_endpoint`, form-urlencoded, with `client_id` for
    /// public clients or the client's authentication (§3.1 refers to RFC 6749 §2.3).
    public func httpRequest(endpoint: URL, client: ClientAuthentication) -> HTTPRequestSpec {
        var parameters: [(String, String)] = []
        if let scope, !scope.isEmpty { parameters.append(("scope", scope)) }
        return HTTPRequestSpec.formPost(endpoint: endpoint, parameters: parameters, client: client)
    }
}
