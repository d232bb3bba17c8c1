public import Agent
public import Foundation
public import OAuth
import Dispatch
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
    /// When set, `cachedAccessToken` returns nil and `accessToken` stops at this gate first.
    public let gate: TokenGate?

    public init(tokens: [String: String] = [:], slowPath: Duration? = nil, gate: TokenGate? = nil) {
        self.slowPath = slowPath
        self.gate = gate
        state.withLockedValue { $0.tokens = tokens }
    }

    public func setToken(_ token: String?, for connection: String) { state.withLockedValue { $0.tokens[connection] = token } }
    /// The token `refreshAfterRejection` will install for `connection`.
    public func setRefreshResult(_ token: String, for connection: String) { state.withLockedValue { $0.refreshed[connection] = token } }
    public var accessTokenCalls: Int { state.withLockedValue { $0.accessTokenCalls } }
    public var refreshCalls: [(connection: String, rejected: String)] { state.withLockedValue { $0.refreshCalls } }

    public func cachedAccessToken(connection: String, minValid: TimeInterval) -> String? {
        if slowPath != nil || gate != nil { return nil }
        return state.withLockedValue { $0.tokens[connection] }
    }

    public func accessToken(connection: String, minValid: TimeInterval, interactive: Bool) async throws -> TokenSet {
        state.withLockedValue { $0.accessTokenCalls += 1 }
        if let slowPath { try await Task.sleep(for: slowPath) }
        if let gate { await gate.pass() }
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

/// Where `FakeTokenProvider.accessToken` stops: each call signals that it entered, then
/// waits until `release()` (after which every call passes at once). Lets a test act while a
/// request is known to be inside the token wait.
public final class TokenGate: Sendable {
    private let entered = DispatchSemaphore(value: 0)
    private let state = NIOLockedValueBox<(released: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    public init() {}

    /// Blocks (call it off the concurrency pool, e.g. in `offloaded`) until a call has
    /// entered the gate; false if none did within `timeout` seconds.
    public func waitUntilEntered(timeout: TimeInterval) -> Bool {
        entered.wait(timeout: .now() + timeout) == .success
    }

    /// Opens the gate for the calls waiting at it and all later ones. Idempotent.
    public func release() {
        let waiting = state.withLockedValue { s -> [CheckedContinuation<Void, Never>] in
            s.released = true
            defer { s.waiting = [] }
            return s.waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    func pass() async {
        entered.signal()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = state.withLockedValue { s -> Bool in
                if s.released { return true }
                s.waiting.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }
}
