public import FoundationEssentials

/// Opens a URL in the user's browser: `$BROWSER` (a command, `%s` replaced by the URL or
/// the URL appended), else `xdg-open` (DESIGN §5).
///
/// Only the one-time local start URL is ever passed (SECURITY S3): `state` and the PKCE
/// challenge never appear in `/proc/*/cmdline`. The child gets no descriptors beyond
/// stdio (`ChildProcess` closes the rest) and an environment without the agent's own
/// variables.
public struct BrowserLauncher: Sendable {
    public enum Failure: Error { case noBrowser(String) }

    let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// Whether a graphical session seems present (`DISPLAY` or `WAYLAND_DISPLAY`), or a
    /// `$BROWSER` was set explicitly.
    public var canOpen: Bool {
        environment["BROWSER"].map { !$0.isEmpty } ?? false
            || !(environment["DISPLAY"] ?? "").isEmpty || !(environment["WAYLAND_DISPLAY"] ?? "").isEmpty
    }

    /// Starts the browser and returns without waiting for it to exit.
    public func open(_ url: URL) throws {
        let command: [String]
        if let browser = environment["BROWSER"], !browser.isEmpty {
            // $BROWSER may list alternatives separated by ':'; the first is used.
            let first = browser.split(separator: ":").first.map(String.init) ?? browser
            var words = first.split(separator: " ").map(String.init)
            if let i = words.firstIndex(where: { $0.contains("%s") }) {
                words[i] = words[i].replacing("%s", with: url.absoluteString)
            } else {
                words.append(url.absoluteString)
            }
            command = words
        } else {
            command = ["xdg-open", url.absoluteString]
        }
        guard ChildProcess.startDetached(command, environment: environment.filter { !$0.key.hasPrefix("JIRA_AUTH_AGENT") }) else {
            throw AgentError(.authorizationFailed, "Cannot start the browser (\(command[0])). Set $BROWSER, or use `jira-auth-agent login --no-browser`.")
        }
    }
}
