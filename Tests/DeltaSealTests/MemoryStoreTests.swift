import DeltaSealStore
import Testing

/// The memory store's own hooks: injected faults and counts (its behaviour as a store is the
/// conformance suite's).
@Suite struct MemoryStoreTests {
    @Test func injectedFaultsFailTheNextCallsAndChangeNothing() throws {
        let store = MemoryStore()
        store.failNext(.put, 2, with: StoreError(.transient, key: nil, "injected: connection reset by peer"))
        let counted = CountingStore(store)
        for _ in 0..<2 {
            #expect {
                try counted.put(key: "a/b", bytes: [1], ifAbsent: true)
            } throws: { error in
                (error as? StoreError)?.code == .transient && (error as? StoreError)?.isRetryable == true
            }
        }
        #expect(try store.head(key: "a/b") == nil)
        try counted.put(key: "a/b", bytes: [1], ifAbsent: true)
        #expect(try store.getBytes(key: "a/b") == [1])

        // Counted across sessions, and reported to the session's observer.
        #expect(store.calls(.put) == 3 && store.injectedFailures(.put) == 2)
        #expect(store.calls(.get) == 1 && store.injectedFailures(.get) == 0)
        #expect(counted.requestCounts == ["PUT": 3])
        #expect(counted.requestOutcomes == [.init(verb: "PUT", status: "error"): 2, .init(verb: "PUT", status: "ok"): 1])
    }

    @Test func getsFailAsToldThenReadTheObject() throws {
        let store = MemoryStore()
        try store.put(key: "k", bytes: [7, 8], ifAbsent: false)
        store.failNext(.get, with: StoreError(.accessDenied, key: "k", "injected"))
        #expect(throws: StoreError.self) { try store.getBytes(key: "k") }
        #expect(try store.getBytes(key: "k") == [7, 8])
    }
}
