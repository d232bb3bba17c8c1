import Agent
import ArgumentParser
import Foundation
import Keyring
import Logging

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Authorize a connection in the browser and keep the tokens in the keyring.",
        discussion: """
            With a running agent the agent opens the browser and keeps the tokens. Without a \
            display, or with --no-browser, the device grant is used when the server offers it; \
            otherwise the URL is printed and you paste the address you land on.
            """)

    @Argument(help: "Connection id, team or `default`.") var connection: String = "default"
    @Flag(name: .customLong("no-browser"), help: "Do not open a browser: device code, or paste the redirect URL.") var noBrowser = false
    @OptionGroup var agent: AgentOptions

    func run() async throws {
        let launcher = BrowserLauncher()
        let useBrowser = !noBrowser && launcher.canOpen
        if useBrowser, let client = try? agent.client(timeout: 330), (try? client.call("GET", "/v1/status")) != nil {
            FileHandle.standardError.write(Data("Asking the agent to authorize '\(connection)' in the browser…\n".utf8))
            let relay = PromptRelay(client: client)
            relay.start()
            defer { relay.stop() }
            let data = try client.json("POST", "/v1/connections/\(connection)/authorize", body: [:])
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            print("Authorized '\(object?["connection"] as? String ?? connection)' as \(object?["account"] as? String ?? "unknown account"). Tokens are in the keyring.")
            return
        }
        let registry = LocalAgent.registry()
        let session = try registry.session(connection)
        let tokens = try await session.authorize(
            mode: useBrowser ? .browser : .noBrowser,
            announce: { line in FileHandle.standardError.write(Data((line + "\n").utf8)) },
            readLine: { Swift.readLine(strippingNewline: true) })
        print("Authorized '\(session.connection.id)' as \(tokens.account ?? "unknown account"). Tokens are in the keyring.")
        if (try? agent.client().call("GET", "/v1/status")) != nil {
            FileHandle.standardError.write(Data("Note: the running agent reads the new tokens when it next needs them; run `systemctl --user reload jira-auth-agent` to load them now.\n".utf8))
        }
    }
}

/// The agent's parts assembled in the CLI process, for commands that work without a
/// running agent (login --no-browser, status and revoke when the agent is down).
enum LocalAgent {
    static func registry(memoryStore: Bool = false) -> SessionRegistry {
        var logger = Logger(label: "jira-auth-agent")
        logger.logLevel = ProcessInfo.processInfo.environment["JIRA_AUTH_AGENT_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let store: any TokenStore = memoryStore ? MemoryStore() : SecretServiceStore()
        let secrets = memoryStore ? ClientSecretSource() : ClientSecretSource(store: SecretServiceClientSecretStore())
        return SessionRegistry(catalog: loadCatalog(), dependencies: .init(store: store, secrets: secrets, logger: logger, proactiveRefresh: false))
    }
}

/// Prints the agent's authorization prompt (the URL to open if no browser appeared) while
/// `login` waits for the agent: polls `/v1/status` a few times a second until it shows one.
final class PromptRelay: @unchecked Sendable {
    private let client: TokenAPIClient
    private let lock = NSLock()
    private var running = true

    init(client: TokenAPIClient) { self.client = client }

    func start() {
        let thread = Thread { [self] in
            var shown = Set<String>()
            while lock.withLock({ running }) {
                if let data = try? client.json("GET", "/v1/status"),
                   let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                   let list = object["connections"] as? [[String: Any]] {
                    for prompt in list.compactMap({ $0["authorization_prompt"] as? String }) where !shown.contains(prompt) {
                        shown.insert(prompt)
                        FileHandle.standardError.write(Data((prompt + "\n").utf8))
                    }
                }
                Thread.sleep(forTimeInterval: 0.3)
            }
        }
        thread.start()
    }

    func stop() { lock.withLock { running = false } }
}
