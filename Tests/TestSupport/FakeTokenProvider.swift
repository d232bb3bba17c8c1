public import Agent
public import Foundation
public import OAuth
import NIOConcurrencyHelpers

/// An `AccessTokenProvider` for proxy tests: a fixed token per connection, counts of every
/// call, and a scripted refresh.
public final class FakeTokenProvider: AccessTokenProvider, Sendable {
    private struct State {
        var tokens: [String: String] = [:]
        var refreshed: [String: String] = [:]
        var accessTokenCalls = 0
        var refreshCalls: [(connection: String, rejected: String)] = []
    }
    private let state = NIOLockedValueBox(State())
    /// When set, `cachedAccessToken` returns nil and `accessToken` waits this long first.
    public let slowPath: Duration?

    public init(tokens: [String: String] = [:], slowPath: Duration? = nil) {
        self.slowPath = slowPath
        state.withLockedValue { $0.tokens = tokens }
    }

    public func setToken(_ token: String?, for connection: String) { state.withLockedValue { $0.tokens[connection] = token } }
    /// The token `refreshAfterRejection` will install for `connection`.
    public func setRefreshResult(_ token: String, for connection: String) { state.withLockedValue { $0.refreshed[connection] = token } }
    public var accessTokenCalls: Int { state.withLockedValue { $0.accessTokenCalls } }
    public var refreshCalls: [(connection: String, rejected: String)] { state.withLockedValue { $0.refreshCalls } }

    public func cachedAccessToken(connection: String, minValid: TimeInterval) -> String? {
        if slowPath != nil { return nil }
        return state.withLockedValue { $0.tokens[connection] }
    }

    public func accessToken(connection: String, minValid: TimeInterval, interactive: Bool) async throws -> TokenSet {
        state.withLockedValue { $0.accessTokenCalls += 1 }
        if let slowPath { try await Task.sleep(for: slowPath) }
        guard let token = state.withLockedValue({ $0.tokens[connection] }) else {
            throw AgentError(.authorizationRequired, "connection \(connection) needs authorization")
        }
        return TokenSet(accessToken: token)
    }

    public func refreshAfterRejection(connection: String, rejected accessToken: String) async throws -> TokenSet {
        let next = state.withLockedValue { s -> String? in
            s.refreshCalls.append((connection, accessToken))
            guard let next = s.refreshed[connection] else { return nil }
            s.tokens[connection] = next
            return next
        }
        guard let next else { throw AgentError(.authorizationRequired, "refresh failed") }
        return TokenSet(accessToken: next)
    }
}
