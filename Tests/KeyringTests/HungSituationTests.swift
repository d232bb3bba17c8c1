import Foundation
import Keyring
import OAuth
import Synchronization
import Testing

/// A Secret Service that owns its name and never answers (`keyring-session.sh hung`): calls
/// end at their bound, not after libsecret's 50 s, and the process stays usable.
@Suite(
    "SecretServiceStore with a hung Secret Service", .serialized, .timeLimit(.minutes(1)),
    .enabled(if: Situation.current == .hung, Situation.hung.skipReason))
struct HungSituationTests {
    let store = SecretServiceStore(timeout: .seconds(1))
    let clock = ContinuousClock()

    @Test("a call with a 1 s bound throws .timedOut after about 1 s")
    func loadTimesOut() async throws {
        let start = clock.now
        let error = await #expect(throws: KeyringError.self) {
            try await store.load(connection: "any")
        }
        let elapsed = clock.now - start
        #expect(error?.code == .timedOut)
        #expect(error?.description.contains("within 1 s") == true)
        #expect(elapsed >= .milliseconds(900))
        #expect(elapsed < .seconds(10), "took \(elapsed)")
    }

    @Test("calls keep timing out at the bound, and other work goes on meanwhile")
    func processStaysUsable() async throws {
        // While keyring calls wait (bounded by 30 s here, at least one per pool thread), the
        // concurrency pool is free for other work: it is done while they are all still
        // waiting. A call that held a pool thread would let the work run only after the calls
        // had ended.
        let waiting = SecretServiceStore(timeout: .seconds(30))
        let ended = Counter()
        let calls = (0..<max(2, ProcessInfo.processInfo.activeProcessorCount)).map { i in
            Task { () throws -> Void in
                defer { ended.increment() }
                if i.isMultiple(of: 2) {
                    try await waiting.save(Fixture.tokens(), for: Fixture.identity("x\(i)"))
                } else {
                    _ = try await waiting.list()
                }
            }
        }
        let memory: any TokenStore = MemoryStore()
        try await memory.save(Fixture.tokens(), for: Fixture.identity("m"))
        #expect(try await memory.load(connection: "m") == Fixture.tokens())
        let work = await withTaskGroup(of: Int.self) { group in
            for i in 0..<100 { group.addTask { i } }
            return await group.reduce(0, +)
        }
        #expect(work == 4950)
        #expect(ended.value == 0, "the pool was blocked: the work ran after \(ended.value) keyring call(s) had ended")
        for call in calls { call.cancel() }
        for call in calls { await #expect(throws: CancellationError.self) { try await call.value } }

        // Calls with a 1 s bound keep timing out at it.
        let start = clock.now
        let save = Task { [store] in try await store.save(Fixture.tokens(), for: Fixture.identity("x")) }
        let list = Task { [store] in try await store.list() }
        await #expect(throws: KeyringError.self) { try await save.value }
        await #expect(throws: KeyringError.self) { _ = try await list.value }
        #expect(clock.now - start < .seconds(10), "took \(clock.now - start)")
        #expect(await store.health() == .timedOut)
    }

    @Test("a call queued behind another gets its whole bound, counted from its start")
    func queuedCallGetsItsWholeBound() async throws {
        // Two 1 s calls on one store run one after the other: the second is not timed out
        // while it waits for the first (before, both ended at about 1 s, the second without
        // ever reaching the Secret Service).
        let start = clock.now
        let first = Task { [store] in try await store.load(connection: "queued-a") }
        let second = Task { [store] in try await store.load(connection: "queued-b") }
        await #expect(throws: KeyringError.self) { try await first.value }
        await #expect(throws: KeyringError.self) { try await second.value }
        #expect(clock.now - start >= .milliseconds(1900), "took \(clock.now - start)")
    }

    @Test("cancelling the task ends the call at once")
    func cancellation() async throws {
        let start = clock.now
        let task = Task { try await SecretServiceStore(timeout: .seconds(30)).load(connection: "any") }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(clock.now - start < .seconds(10), "took \(clock.now - start)")
    }
}

/// A count shared between tasks.
private final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}
