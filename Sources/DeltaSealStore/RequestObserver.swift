/// Told of every request a store sends, by the store that sends it: only the store knows how many
/// requests one call takes (S3: retries, parts, pages) and what each got. Given to a store when it
/// is made (``ObjectStore/session(observer:)``, ``CountingStore``), so no caller needs the store's type.
///
/// Called from whatever thread makes the request, parts of one upload concurrently.
public protocol RequestObserver: Sendable {
    /// A request is sent, by verb: `PUT`, `GET`, `HEAD`, `DELETE`, `POST`, `LIST`.
    func requestSent(_ verb: String)

    /// A request sent got `status`: the HTTP status, `error` for no answer, `unknown` from a store
    /// that has no statuses (the filesystem), `ok` or `error` from the memory store.
    func requestAnswered(_ verb: String, status: String)

    /// A request the store tries again itself, by why (`throttled`, `server_error`, `connection`,
    /// `truncated`, `expired_token`).
    func requestRetried(reason: String)
}
