import FoundationEssentials
import OAuth

/// The decisions of the loopback listener, as a pure state machine (STYLE §7): given a
/// request, what to answer and whether the flow ends. No I/O, tested directly.
///
/// SECURITY S1: only the right callback, a denial carrying the right `state`, or the
/// timeout end the flow. Everything else — wrong `state`, wrong path, wrong `Host`,
/// favicon and preconnect requests — is answered and ignored.
struct LoopbackFlow {
    /// How the flow ended.
    enum Outcome: Sendable, Equatable {
        case code(String)
        /// The right `state`, but no usable code: the server's error response, an `iss`
        /// mismatch (RFC 9207), a response without a code. The real reason, for the user.
        case denied(OAuthError)
    }

    /// What the listener does with one request.
    enum Action: Equatable {
        /// 302 to the authorization server (the one-time start URL, SECURITY S3).
        case redirect(URL)
        /// Answer with a page and keep waiting.
        case page(status: Int, LoopbackPage)
        /// Answer with a page and end the flow with `outcome`.
        case finish(LoopbackPage, Outcome)
    }

    let startPath: String
    let callbackPath: String
    let authorizationURL: URL
    let expectedState: String
    let expectedIssuer: String?
    let issuerRequired: Bool
    /// Exact `Host` values accepted (`127.0.0.1:<port>`, `[::1]:<port>`, `localhost:<port>`).
    let allowedHosts: Set<String>
    private(set) var startUsed = false
    private(set) var outcome: Outcome?

    init(startPath: String, callbackPath: String = "/callback", authorizationURL: URL, expectedState: String,
         expectedIssuer: String?, issuerRequired: Bool, allowedHosts: Set<String>) {
        self.startPath = startPath
        self.callbackPath = callbackPath
        self.authorizationURL = authorizationURL
        self.expectedState = expectedState
        self.expectedIssuer = expectedIssuer
        self.issuerRequired = issuerRequired
        self.allowedHosts = allowedHosts
    }

    mutating func handle(method: String, path: String, query: [URLQueryItem], host: String?) -> Action {
        guard outcome == nil else { return .page(status: 410, .alreadyFinished) }
        guard let host, allowedHosts.contains(host.lowercased()) else {
            return .page(status: 421, .notForThisListener)
        }
        guard method == "GET" || method == "HEAD" else { return .page(status: 405, .notForThisListener) }
        if path == startPath {
            guard !startUsed else { return .page(status: 410, .startUsed) }
            startUsed = true
            return .redirect(authorizationURL)
        }
        guard path == callbackPath else { return .page(status: 404, .notForThisListener) }
        switch AuthorizationResponse.validate(query: query, expectedState: expectedState,
                                              expectedIssuer: expectedIssuer, issuerRequired: issuerRequired) {
        case .code(let code):
            outcome = .code(code)
            return .finish(.success, .code(code))
        case .denied(let error):
            outcome = .denied(error)
            // A refusal by the server or the user, or a response that cannot be trusted.
            let page: LoopbackPage = error.code == .accessDenied || error.code == .oauth ? .denied : .failed
            return .finish(page, .denied(error))
        case .ignore:
            return .page(status: 400, .unexpectedCallback)
        }
    }
}

/// The plain pages the listener answers with: no third-party resources, no scripts.
enum LoopbackPage: String, Equatable {
    case success, denied, failed, timedOut, alreadyFinished, startUsed, notForThisListener, unexpectedCallback

    var title: String {
        switch self {
        case .success: return "Jira access authorized"
        case .denied: return "Jira access not authorized"
        case .failed: return "Sign-in failed"
        case .timedOut: return "Sign-in timed out"
        case .alreadyFinished: return "This sign-in has ended"
        case .startUsed: return "This sign-in link was already used"
        case .notForThisListener: return "Not found"
        case .unexpectedCallback: return "Unexpected response"
        }
    }

    var text: String {
        switch self {
        case .success: return "jira-auth-agent received the authorization. You can close this tab."
        case .denied: return "The authorization server reported that access was not granted. Nothing was stored. Run `jira-auth-agent login` to try again."
        case .failed: return "The authorization server's response could not be used, so nothing was stored. The terminal (or `jira-auth-agent status`) says why. Run `jira-auth-agent login` to try again."
        case .timedOut: return "The sign-in took too long and was abandoned. Run `jira-auth-agent login` to start again."
        case .alreadyFinished: return "This sign-in has already finished. You can close this tab."
        case .startUsed: return "Each sign-in link works once. Run `jira-auth-agent login` to start a new sign-in."
        case .notForThisListener: return "This address belongs to a jira-auth-agent sign-in in progress and has nothing here."
        case .unexpectedCallback: return "This response does not belong to the sign-in in progress and was ignored. The sign-in goes on in the tab where it started."
        }
    }

    /// The whole document; titles and texts are constants, nothing from the request.
    var html: String {
        """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(title)</title>\
        <style>body{font-family:sans-serif;max-width:36em;margin:4em auto;line-height:1.5}</style></head>\
        <body><h1>\(title)</h1><p>\(text)</p></body></html>
        """
    }
}
