/// One line of a build's NDJSON event stream.
public enum BuildEvent: Sendable, Equatable {
    /// `{"type":"build","id":"bld_…","status":"started"}`; while the build waits for a slot,
    /// `"status":"queued"` with its 1-based `position` in the queue (sent again as it moves).
    /// `page_url`: the build page's link, on `started` (from services that have pages).
    case build(id: String, status: String, position: Int? = nil, pageURL: String? = nil)
    /// `{"type":"stdout","data":"…"}`: a chunk of the build's standard output.
    case stdout(String)
    /// `{"type":"stderr","data":"…"}`: a chunk of the build's standard error.
    case stderr(String)
    /// `{"type":"warning","code":"…","message":"…"}`
    case warning(code: String, message: String)
    /// `{"type":"error","code":"…","message":"…","pattern":"…"}`; `pattern` only for artifact errors.
    case error(code: String, message: String, pattern: String?)
    /// `{"type":"exit","code":N,"timed_out":false,"artifacts":[…]}`: always the last event of a build.
    case exit(BuildExit)
    /// `{"type":"heartbeat"}` (with the `seq` of the last event sent): the build is silent but
    /// alive. Sent only to clients that ask for it (`heartbeat_sec`); older clients reject
    /// event types they do not know.
    case heartbeat
}
