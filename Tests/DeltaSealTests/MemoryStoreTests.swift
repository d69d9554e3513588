import DeltaSealStore
import Testing

/// The memory store's own hooks: injected faults and counts (its behaviour as a store is the
/// conformance suite's).
@Suite struct MemoryStoreTests {
    @Test func injectedFaultsFailTheNextCallsAndChangeNothing() async throws {
        let store = MemoryStore()
        store.failNext(.put, 2, with: StoreError(.transient, key: nil, "injected: connection reset by peer"))
        let counted = CountingStore(store)
        for _ in 0..<2 {
            await #expect {
                try await counted.put(key: "a/b", bytes: [1], ifAbsent: true)
            } throws: { error in
                (error as? StoreError)?.code == .transient && (error as? StoreError)?.isRetryable == true
            }
        }
        #expect(try await store.head(key: "a/b") == nil)
        try await counted.put(key: "a/b", bytes: [1], ifAbsent: true)
        #expect(try await store.getBytes(key: "a/b") == [1])

        // Counted across sessions, and reported to the session's observer.
        #expect(store.calls(.put) == 3 && store.injectedFailures(.put) == 2)
        #expect(store.calls(.get) == 1 && store.injectedFailures(.get) == 0)
        #expect(counted.requestCounts == ["PUT": 3])
        #expect(counted.requestOutcomes == [.init(verb: "PUT", status: "error"): 2, .init(verb: "PUT", status: "ok"): 1])
    }

    @Test func getsFailAsToldThenReadTheObject() async throws {
        let store = MemoryStore()
        try await store.put(key: "k", bytes: [7, 8], ifAbsent: false)
        store.failNext(.get, with: StoreError(.accessDenied, key: "k", "injected"))
        await #expect(throws: StoreError.self) { try await store.getBytes(key: "k") }
        #expect(try await store.getBytes(key: "k") == [7, 8])
    }
}
