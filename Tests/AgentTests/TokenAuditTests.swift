import Foundation
import Testing
import TestSupport
@testable import Agent
#if canImport(Glibc)
import Glibc
#endif

/// Who got a raw token (issue 17 item 4): the requester lookup in `/proc`, the release log,
/// the `token_executables` policy, and the token API recording and refusing on both paths.
@Suite struct TokenAuditTests {
    static let myExecutable = ProcFS.executable(of: getpid())!

    // MARK: /proc lookups, against a fake /proc

    /// A fake `/proc`: `pid → (exe, ppid, comm)`.
    static func fakeProc(_ entries: [Int32: (exe: String, ppid: Int32, comm: String)]) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fakeproc-\(UUID().uuidString)").path
        for (pid, e) in entries {
            let dir = "\(root)/\(pid)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            if !e.exe.isEmpty { try FileManager.default.createSymbolicLink(atPath: "\(dir)/exe", withDestinationPath: e.exe) }
            try "\(pid) (\(e.comm)) S \(e.ppid) \(pid) \(pid) 0 -1 4194560\n".write(toFile: "\(dir)/stat", atomically: true, encoding: .utf8)
        }
        return root
    }

    @Test("a program's own request is its own; one made through the CLI counts for the CLI's parent")
    func requesterAttribution() throws {
        let cli: Set<String> = ["/opt/jaa/bin/jira-auth-agent", "/opt/jaa/bin/jira-auth-agent-full"]
        let root = try Self.fakeProc([
            100: ("/usr/bin/python3.11", 1, "python3"),
            200: ("/opt/jaa/bin/jira-auth-agent-full", 150, "jira-auth-agent"),
            150: ("/usr/bin/bash", 90, "b) (a ) sh"),
            300: ("/opt/jaa/bin/jira-auth-agent", 1, "jira-auth-agent"),
            400: ("/usr/bin/curl (deleted)", 1, "curl"),
            500: ("", 150, "jira-auth-agent"),   // not dumpable: exe unreadable, comm readable
            600: ("", 150, "python3"),
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(TokenRequester.lookUp(pid: 100, clientExecutables: cli, procRoot: root)
                == TokenRequester(executable: "/usr/bin/python3.11", pid: 100))
        #expect(TokenRequester.lookUp(pid: 200, clientExecutables: cli, procRoot: root)
                == TokenRequester(executable: "/usr/bin/bash", pid: 150, via: "jira-auth-agent"),
                "the parent's command name holds ') (': parsed after the last ')'")
        #expect(TokenRequester.lookUp(pid: 300, clientExecutables: cli, procRoot: root)
                == TokenRequester(executable: "/opt/jaa/bin/jira-auth-agent", pid: 300),
                "a CLI orphaned to PID 1 stays the requester")
        #expect(TokenRequester.lookUp(pid: 400, clientExecutables: cli, procRoot: root).executable == "/usr/bin/curl")
        #expect(TokenRequester.lookUp(pid: 500, clientExecutables: cli, procRoot: root)
                == TokenRequester(executable: "/usr/bin/bash", pid: 150, via: "jira-auth-agent"),
                "a CLI whose exe the kernel hides (not dumpable) is known by its command name")
        #expect(TokenRequester.lookUp(pid: 600, clientExecutables: cli, procRoot: root) == TokenRequester(executable: nil, pid: 600))
        #expect(TokenRequester.lookUp(pid: 999, clientExecutables: cli, procRoot: root) == TokenRequester(executable: nil, pid: 999))
        #expect(TokenRequester.lookUp(pid: nil, clientExecutables: cli, procRoot: root) == TokenRequester(executable: nil, pid: nil))
    }

    @Test("the real /proc: this process and its parent; the CLI binaries sit next to the agent's")
    func realProc() throws {
        #expect(ProcFS.stat(of: getpid())?.parent == getppid())
        #expect(TokenRequester.lookUp(pid: getpid(), clientExecutables: []).executable == Self.myExecutable)
        #expect(TokenRequester.clientExecutables(besides: "/usr/libexec/x/jira-auth-agent-full")
                == ["/usr/libexec/x/jira-auth-agent", "/usr/libexec/x/jira-auth-agent-full"])
        #expect(TokenRequester.clientExecutables(besides: "/home/u/.local/libexec/jira-auth-agent/jira-auth-agent-full")
                == ["/home/u/.local/bin/jira-auth-agent", "/home/u/.local/libexec/jira-auth-agent/jira-auth-agent",
                    "/home/u/.local/libexec/jira-auth-agent/jira-auth-agent-full"], "make install's layout")
    }

    // MARK: policy

    @Test("token_executables: absent lets every program; a list only those; an unknown executable never")
    func policy() {
        let python = TokenRequester(executable: "/usr/bin/python3", pid: 5)
        #expect(TokenReleasePolicy.decide(connection: "acme", allowed: nil, requester: python) == .release)
        #expect(TokenReleasePolicy.decide(connection: "acme", allowed: ["/usr/bin/python3"], requester: python) == .release)
        guard case .refuse(let reason) = TokenReleasePolicy.decide(connection: "acme", allowed: ["/usr/bin/git"], requester: python) else {
            Issue.record("a program not on the list got a token")
            return
        }
        #expect(reason.contains("/usr/bin/python3") && reason.contains("token_executables") && reason.contains("proxy-url acme"))
        #expect(TokenReleasePolicy.decide(connection: "acme", allowed: [], requester: python) != .release)
        #expect(TokenReleasePolicy.decide(connection: "acme", allowed: ["/usr/bin/git"], requester: TokenRequester(executable: nil, pid: 9)) != .release)
    }

    // MARK: the log

    @Test("the log keeps the newest releases, newest first, and counts per program")
    func logIsBoundedAndOrdered() {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let log = TokenReleaseLog(capacity: 3, maxRecipients: 2, since: start)
        func release(_ i: Int, _ exe: String, _ outcome: TokenRelease.Outcome = .released, connection: String = "acme") -> TokenRelease {
            TokenRelease(time: start.addingTimeInterval(Double(i)), connection: connection,
                         requester: TokenRequester(executable: exe, pid: Int32(i)), outcome: outcome)
        }
        #expect(log.record(release(1, "/a")))
        #expect(!log.record(release(2, "/a")))
        #expect(log.record(release(3, "/b", .refused)))
        #expect(!log.record(release(4, "/a")))
        #expect(log.record(release(4, "/b")), "the first release after a refusal is news too")
        #expect(log.releases().map(\.requester.pid) == [4, 4, 3], "capacity 3, newest first")
        let a = log.recipients().first { $0.executable == "/a" }
        #expect(a?.released == 3 && a?.refused == 0 && a?.first == start.addingTimeInterval(1) && a?.last == start.addingTimeInterval(4))
        let b = log.recipients().first { $0.executable == "/b" }
        #expect(b?.refused == 1 && b?.released == 1)
        // A third program evicts the one seen least recently.
        #expect(log.record(release(5, "/c", connection: "other")))
        #expect(log.recipients().count == 2)
        #expect(log.recipients().first?.executable == "/c")
        #expect(log.recipients(connection: "other").map(\.executable) == ["/c"])
        #expect(log.releases(connection: "acme").map(\.requester.pid) == [4, 4])
        // Evicted and back: counted afresh, but the journal is not told again.
        #expect(!log.record(release(6, "/a")) && !log.record(release(7, "/b")))
    }

    // MARK: through the token API

    @Test("a token handed out is recorded with the calling program; status and GET /v1/audit show it")
    func releasesAreRecorded() async throws {
        let fixture = try await TokenAPITests.Fixture(withTokens: true)
        let pid = getpid()
        #expect(await fixture.call("POST", "/v1/connections/acme/token", pid: pid).status == 200)
        // The second call is answered from memory on the fast path: recorded too.
        let fast = try #require(fixture.api.respondWithoutSuspending(
            LocalAPIRequest(method: "POST", path: "/v1/connections/acme/token", peer: PeerCredentials(uid: getuid(), pid: pid))))
        #expect(fast.status == 200)
        let audit = await fixture.call("GET", "/v1/audit", query: "connection=default")
        #expect(audit.status == 200)
        let body = try JSONDecoder.iso8601.decode(AuditBody.self, from: audit.body)
        #expect(body.releases.count == 2)
        #expect(body.releases.allSatisfy { $0.connection == "acme" && $0.outcome == .released && $0.requester.executable == Self.myExecutable })
        #expect(body.recipients == [TokenRecipient(connection: "acme", executable: Self.myExecutable, released: 2, refused: 0,
                                                   first: body.releases[1].time, last: body.releases[0].time)])
        #expect(!String(decoding: audit.body, as: UTF8.self).contains(TokenAPITests.accessToken))
        let status = try JSONDecoder.iso8601.decode(StatusBody.self, from: await fixture.call("GET", "/v1/status").body)
        #expect(status.tokenRecipients?.first?.released == 2)
        try TokenAPITests.expectError(await fixture.call("GET", "/v1/audit", query: "connection=nope"), status: 404, code: "unknown_connection")
        try TokenAPITests.expectError(await fixture.call("POST", "/v1/audit"), status: 405, code: "method_not_allowed")
        await fixture.finish()
    }

    @Test("a program not in token_executables gets 403 token_not_released on both paths, and no sign-in starts")
    func allowlistRefuses() async throws {
        // Listed: the test runner itself. The fast path needs a cached token first.
        let allowed = try await TokenAPITests.Fixture(withTokens: true, tokenExecutables: [Self.myExecutable])
        #expect(await allowed.call("POST", "/v1/connections/acme/token", pid: getpid()).status == 200)
        await allowed.finish()

        let fixture = try await TokenAPITests.Fixture(withTokens: false, tokenExecutables: ["/usr/bin/git"])
        let slow = await fixture.call("POST", "/v1/connections/acme/token", body: #"{"interactive": true}"#, pid: getpid())
        try TokenAPITests.expectError(slow, status: 403, code: "token_not_released")
        let status = try JSONDecoder.iso8601.decode(StatusBody.self, from: await fixture.call("GET", "/v1/status").body)
        #expect(status.connections.first?.state == "unknown", "a refused program must not even load the session, let alone start a sign-in")
        #expect(status.tokenRecipients?.first?.refused == 1 && status.tokenRecipients?.first?.released == 0)
        await fixture.finish()

        let cached = try await TokenAPITests.Fixture(withTokens: true, tokenExecutables: ["/usr/bin/git"])
        // No listed program runs here to warm the cache through the API: warm it through the session.
        _ = try await cached.registry.session("acme").accessToken(minValid: 0, interactive: false)
        let request = LocalAPIRequest(method: "POST", path: "/v1/connections/acme/token", peer: PeerCredentials(uid: getuid(), pid: getpid()))
        let fast = try #require(cached.api.respondWithoutSuspending(request), "the fast path answers a cached connection itself")
        try TokenAPITests.expectError(fast, status: 403, code: "token_not_released")
        #expect(!String(decoding: fast.body, as: UTF8.self).contains(TokenAPITests.accessToken))
        await cached.finish()
    }

    @Test("through the CLI: a request from one of the CLI's binaries counts for its parent")
    func cliRequestsCountForTheParent() async throws {
        // Pretend the test runner is the CLI: its parent (whatever ran the tests) is the requester.
        let fixture = try await TokenAPITests.Fixture(withTokens: true, clientExecutables: [Self.myExecutable])
        #expect(await fixture.call("POST", "/v1/connections/acme/token", pid: getpid()).status == 200)
        let release = try #require(fixture.api.releases.releases().first)
        #expect(release.requester.pid == getppid())
        #expect(release.requester.via == "jira-auth-agent")
        let parent = try #require(ProcFS.executable(of: getppid()))
        #expect(release.requester.executable == parent)
        await fixture.finish()
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
