import Agent
import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import OAuth
import Synchronization
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
    @Flag(name: .customLong("switch-account"), help: "Accept signing in as another account than the connection had.") var switchAccount = false
    @OptionGroup var agent: AgentOptions

    func run() async throws {
        let launcher = BrowserLauncher()
        let useBrowser = !noBrowser && launcher.canOpen
        if useBrowser, let client = try? agent.client(timeout: 330), (try? client.call("GET", "/v1/status")) != nil {
            Output.stderr("Asking the agent to authorize '\(connection)' in the browser…\n")
            let relay = PromptRelay(client: client)
            relay.start()
            defer { relay.stop() }
            let data = try client.json("POST", "/v1/connections/\(connection.percentEncodedPathSegment)/authorize",
                                       body: switchAccount ? ["switch_account": .bool(true)] : [:])
            let object = JSONValue.object(from: data)
            print("Authorized '\(object?["connection"]?.stringValue ?? connection)' as \(object?["account"]?.stringValue ?? "unknown account"). Tokens are in the keyring.")
            return
        }
        let registry = LocalAgent.registry()
        let session = try registry.session(connection)
        let tokens = try await session.authorize(
            mode: useBrowser ? .browser : .noBrowser,
            announce: { line in Output.stderr((line + "\n")) },
            readLine: { Swift.readLine(strippingNewline: true) },
            allowAccountSwitch: switchAccount)
        // This process ends now: a save the keyring refused is tried once more, and if it
        // still fails the sign-in is lost — say so instead of claiming success.
        await session.shutdown()
        if await session.status().savePending {
            throw AgentError(.keyringLocked, "Signed in as \(tokens.account ?? "unknown account"), but the keyring could not save the tokens, so they are lost when this command ends. Unlock the login keyring and run `jira-auth-agent login \(session.connection.id)` again.")
        }
        print("Authorized '\(session.connection.id)' as \(tokens.account ?? "unknown account"). Tokens are in the keyring.")
        // A running agent (no browser for it to use, or --no-browser) reads them at once.
        _ = try? agent.client().call("POST", "/v1/connections/\(session.connection.id.percentEncodedPathSegment)/reload")
    }
}

/// The agent's parts assembled in the CLI process, for commands that work without a
/// running agent (login --no-browser, status and revoke when the agent is down).
enum LocalAgent {
    /// A command must not act on the keyring behind a running agent's back (SECURITY S17):
    /// an agent whose lock is held but whose socket this command cannot reach (another
    /// runtime directory) would keep serving what the command changed.
    static func refuseIfAnAgentRuns() throws {
        guard let paths = try? AgentPaths.standard(), InstanceLock.isHeld(path: paths.lock) else { return }
        throw AgentError(.alreadyRunning, "A jira-auth-agent is running for this user (its lock \(paths.lock) is held) but does not answer on the socket this command uses. Run the command where JIRA_AUTH_AGENT_RUNTIME_DIR matches the agent's, or stop the agent first: systemctl --user stop jira-auth-agent")
    }

    static func registry(memoryStore: Bool = false) -> SessionRegistry {
        var logger = Logger(label: "jira-auth-agent")
        logger.logLevel = ProcessInfo.processInfo.environment["JIRA_AUTH_AGENT_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let store: any TokenStore = memoryStore ? MemoryStore() : SecretServiceStore()
        let secrets = memoryStore ? ClientSecretSource() : ClientSecretSource(store: SecretServiceClientSecretStore())
        return SessionRegistry(catalog: loadCatalog(), dependencies: .init(
            store: store, secrets: secrets, logger: logger, proactiveRefresh: false,
            revocations: memoryStore ? RevocationRecords() : .standard()))
    }
}

/// Prints the agent's authorization prompt (the URL to open if no browser appeared) while
/// `login` waits for the agent: polls `/v1/status` a few times a second until it shows one.
final class PromptRelay: @unchecked Sendable {
    private let client: TokenAPIClient
    private let running = Mutex(true)

    init(client: TokenAPIClient) { self.client = client }

    /// Polls on a Dispatch queue (the calls block briefly on the socket).
    func start() {
        DispatchQueue.global().async { [self] in
            var shown = Set<String>()
            while running.withLock({ $0 }) {
                if let data = try? client.json("GET", "/v1/status"),
                   case .array(let list)? = JSONValue.object(from: data)?["connections"] {
                    for case .object(let entry) in list {
                        guard let prompt = entry["authorization_prompt"]?.stringValue, !shown.contains(prompt) else { continue }
                        shown.insert(prompt)
                        Output.stderr(prompt + "\n")
                    }
                }
                usleep(300_000)
            }
        }
    }

    func stop() { running.withLock { $0 = false } }
}
