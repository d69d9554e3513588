import CDeltaSealLinux
#if canImport(Glibc)
import Glibc
#endif

/// glibc's malloc gives threads that allocate at once arenas of their own, up to eight per core,
/// and an arena keeps what it grew to. In the supervisor, whose pool threads take turns packing,
/// hashing and uploading, that was measured as most of its peak heap: four 66 MB deltas in
/// flight to S3 peaked at 74-89 MiB with the default, 65-76 MiB with two arenas (four runs each;
/// docs/benchmarks.md, which also has its cost in time). The heavy work allocates per chunk,
/// not per byte, so the threads rarely meet in malloc.
public enum MallocArenas {
    /// The cap the supervisor runs with.
    public static let supervisorCap: Int32 = 2

    /// Caps the process's arenas at `count`, unless the operator chose with `MALLOC_ARENA_MAX`
    /// (which glibc reads itself). Call it before threads start. Returns whether the cap is ours.
    @discardableResult
    public static func cap(_ count: Int32) -> Bool {
        guard getenv("MALLOC_ARENA_MAX") == nil else { return false }
        return dsl_limit_malloc_arenas(count) == 1
    }
}
