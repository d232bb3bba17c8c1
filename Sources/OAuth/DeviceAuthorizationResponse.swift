public import FoundationEssentials

/// The device authorization response (RFC 8628 §3.2): what to show the user and how to poll.
public struct DeviceAuthorizationResponse: Sendable, Equatable {
    /// `device_code`: secret, sent only in `TokenRequest.deviceCode` polls.
    public let deviceCode: String
    /// `user_code`: shown to the user; printable characters only (checked).
    public let userCode: String
    /// `verification_uri` (or Google's `verification_url`): https, or loopback http.
    public let verificationURI: URL
    /// `verification_uri_complete`, when present and acceptable (§3.3.1).
    public let verificationURIComplete: URL?
    /// `now + expires_in`, with `expires_in` clamped to 1 s … 1 day (600 s when absent).
    public let expiresAt: Date
    /// `interval` in seconds: clamped to 1 … 300, 5 when absent (§3.2).
    public let interval: TimeInterval

    /// The polling schedule this response asks for.
    public var schedule: DevicePollSchedule {
        DevicePollSchedule(interval: interval, deadline: expiresAt)
    }

    /// Parses the response of the device authorization endpoint (200 + JSON object;
    /// errors classified as at the token endpoint). Numbers follow the `ExpiresIn` rule.
    public static func parse(_ response: HTTPResponseSpec, now: Date) throws -> DeviceAuthorizationResponse {
        let object = try OAuthError.successObject(response)
        guard case .string(let deviceCode)? = object["device_code"], TokenResponse.isVisibleASCII(deviceCode) else {
            throw OAuthError.invalidField("the response has no usable device_code")
        }
        guard case .string(let userCode)? = object["user_code"], userCode.count <= 64,
            let shown = Sanitize.printable(userCode, limit: 64), shown == userCode
        else {
            throw OAuthError.invalidField("the response has no printable user_code")
        }
        guard let verification = (object["verification_uri"] ?? object["verification_url"])?.stringValue,
            let verificationURI = URL(string: verification), verificationURI.isAcceptableEndpoint
        else {
            throw OAuthError.invalidField("the response has no https verification_uri")
        }
        let complete = object["verification_uri_complete"]?.stringValue
            .flatMap { URL(string: $0) }
            .flatMap { $0.isAcceptableEndpoint ? $0 : nil }
        let lifetime = try ExpiresIn.seconds(
            object["expires_in"], field: "expires_in", range: 1...86_400, default: 600) ?? 600
        let interval = try ExpiresIn.seconds(
            object["interval"], field: "interval", range: 1...300, default: 5) ?? 5
        return DeviceAuthorizationResponse(
            deviceCode: deviceCode, userCode: userCode, verificationURI: verificationURI,
            verificationURIComplete: complete, expiresAt: now.addingTimeInterval(lifetime),
            interval: interval)
    }
}

extension DeviceAuthorizationResponse: CustomStringConvertible, CustomDebugStringConvertible {
    /// The device code is redacted; the user code and URI are meant to be shown.
    public var description: String {
        "DeviceAuthorizationResponse(user_code: \(userCode), verification_uri: \(verificationURI.absoluteString), device_code: \(Redaction.describe(secret: deviceCode)), interval: \(Int(interval)))"
    }
    public var debugDescription: String { description }
}
