import FoundationEssentials
import Keyring

/// Turns a keyring error into the Agent's error, keeping the keyring's advice.
enum KeyringFailure {
    static func agentError(_ error: any Error, connection: String) -> AgentError {
        if let agent = error as? AgentError { return agent }
        guard let keyring = error as? KeyringError else {
            return AgentError(.internalError, "Keyring access for '\(connection)' failed: \(error)")
        }
        let code: AgentError.Code = keyring.code == .locked ? .keyringLocked : .keyringUnavailable
        return AgentError(code, keyring.description, underlying: keyring)
    }
}
