/// Why a build is torn down before it ends by itself.
public enum CancelReason: String, Sendable {
    /// `DELETE /v1/builds/{id}`, or build-cli's Ctrl-C.
    case requested
    /// Its client went away and nobody re-attached within `build.reattach_grace_sec`.
    case abandoned
    /// The daemon is stopping and the shutdown grace is over.
    case shutdown
}
