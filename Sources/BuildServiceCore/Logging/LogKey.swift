/// Metadata keys of the daemon's log lines, kept in one place so every line uses the same names.
public enum LogKey {
    public static let buildID = "build.id"
    public static let project = "build.project"
    public static let command = "build.command"
    public static let args = "build.args"
    public static let cwd = "build.cwd"
    /// The names of the variables a request set (`env`); never their values, which may be secrets.
    public static let env = "build.env"
    public static let timeout = "build.timeout_sec"
    public static let exitCode = "build.exit_code"
    public static let timedOut = "build.timed_out"
    public static let cancelled = "build.cancelled"
    public static let signal = "build.signal"
    public static let duration = "build.duration"
    public static let requestID = "request.id"
    public static let peer = "peer"
    public static let listener = "listener"
    /// The name of the token a request used (`service.*.auth.tokens[].name`), never the token.
    public static let tokenName = "auth.token_name"
    public static let tls = "tls"
    public static let artifacts = "build.artifacts"
    public static let reason = "reason"
    public static let code = "code"
    /// Refusals left out of the log since the last one written (rate limit).
    public static let suppressed = "suppressed"
    /// The length of the arguments when the audit line shows only their start.
    public static let argsBytes = "build.args_bytes"
    public static let error = "error"
    public static let path = "path"
    public static let address = "address"
}
