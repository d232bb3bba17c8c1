import Agent
import ArgumentParser
import FoundationEssentials
import Keyring
import OAuth
#if canImport(Glibc)
import Glibc
#endif

extension Connections {
    /// `connections set-secret ID`: the client secret from stdin into the keyring (DESIGN §3).
    /// Never from argv or the environment (SECURITY S3), never echoed.
    struct SetSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-secret",
            abstract: "Keep a connection's client secret in the keyring (read from stdin, one line).",
            discussion: """
                The secret is read from standard input, never from the command line. In a terminal \
                you are prompted and nothing is echoed; in a script: \
                `jira-auth-agent connections set-secret acme < secret.txt`. Used when the connection \
                has no client_secret_file (a client_secret_file wins).
                """)

        @Argument(help: "The connection id.") var id: String

        func run() async throws {
            let connection = try configuredConnection(id)
            let interactive = isatty(STDIN_FILENO) == 1
            let line = interactive ? SecretPrompt.read("Client secret for '\(connection.id)': ") : Swift.readLine(strippingNewline: true)
            let secret = (line ?? "").trimmingWhitespace()
            guard !secret.isEmpty else {
                throw AgentError(.badRequest, "No client secret was given (an empty line). Pipe it in, e.g. `jira-auth-agent connections set-secret \(connection.id) < secret.txt`; nothing was stored.")
            }
            try await SecretServiceClientSecretStore().save(secret, connection: connection.id)
            print("Stored the client secret of '\(connection.id)' in the keyring.")
            if connection.clientSecretFile != nil {
                Output.stderr("Note: '\(connection.id)' also sets client_secret_file in \(connection.origin.file); the file wins while it is set.\n")
            } else if connection.clientAuth == .none {
                Output.stderr("Note: '\(connection.id)' has client_auth = \"none\" and sends no secret.\n")
            }
        }
    }

    /// `connections delete-secret ID`: removes the keyring's client secret of a connection.
    struct DeleteSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete-secret",
            abstract: "Delete a connection's client secret from the keyring.")

        @Argument(help: "The connection id.") var id: String

        func run() async throws {
            // Removing works for a connection that is no longer configured, too.
            let deleted = try await SecretServiceClientSecretStore().delete(connection: id)
            print(deleted ? "Deleted the client secret of '\(id)' from the keyring." : "No client secret of '\(id)' was stored in the keyring.")
        }
    }
}

/// A connection by its exact id (not a team or `default`: a secret belongs to one client).
private func configuredConnection(_ id: String) throws -> Connection {
    let catalog = loadCatalog()
    if let connection = catalog.connections.first(where: { $0.id == id }) { return connection }
    let known = catalog.connections.map(\.id).joined(separator: ", ")
    throw AgentError(.unknownConnection, known.isEmpty
        ? "No connection '\(id)' is configured (no connections at all). Add it to ~/.config/jira-auth-agent/connections.toml first."
        : "No connection '\(id)' is configured. Known connections: \(known).")
}

/// A prompt on stderr with the terminal's echo turned off (termios), restored afterwards.
enum SecretPrompt {
    static func read(_ prompt: String) -> String? {
        Output.stderr(prompt)
        var saved = termios()
        let haveTerminal = tcgetattr(STDIN_FILENO, &saved) == 0
        if haveTerminal {
            var silent = saved
            silent.c_lflag &= ~tcflag_t(ECHO)
            silent.c_lflag |= tcflag_t(ECHONL)
            _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        }
        defer {
            if haveTerminal { _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved) }
        }
        return Swift.readLine(strippingNewline: true)
    }
}
