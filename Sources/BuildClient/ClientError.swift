/// Why build-cli could not get a build's result. Each case maps to its own exit status.
public enum ClientError: Error, Sendable, CustomStringConvertible {
    /// Bad flags or environment (exit 64, EX_USAGE).
    case usage(String)
    /// The service could not be reached or the connection broke (exit 69, EX_UNAVAILABLE).
    case unreachable(String)
    /// The service refused the request: HTTP status (nil on the legacy framing), code, message
    /// (exit 77, 75, 78 or 65 by its code: see `refusalExitStatus`).
    case refused(status: Int?, code: String, message: String)
    /// The service answered something that is not the protocol (exit 76, EX_PROTOCOL).
    case protocolViolation(String)
    /// The socket answered an HTTP request in the original's one-line framing: the original
    /// build-service is there (`run` then speaks that framing by itself; exit 76 elsewhere).
    case legacyFramingOnly(String)
    /// The TLS handshake or connection failed: untrusted or expired certificate, wrong host,
    /// no common protocol (exit 76, EX_PROTOCOL).
    case tls(String)
    /// The build succeeded but an artifact could not be downloaded or failed its size or
    /// checksum check (exit 65, EX_DATAERR).
    case download(String)
    /// A download cannot be written where it belongs: a different file is there (without
    /// --force), the place is a directory, or it is not writable (exit 73, EX_CANTCREAT).
    case cannotWrite(String)

    /// sysexits codes, never 1 or 2, which a build's own make uses: a script tells "the build
    /// failed" (its code passes through) from "build-cli or the service did not run it".
    public var exitStatus: Int32 {
        switch self {
        case .usage: 64
        case .unreachable: 69
        case .refused(let status, let code, _): Self.refusalExitStatus(status: status, code: code)
        case .protocolViolation, .tls, .legacyFramingOnly: 76
        case .download: 65
        case .cannotWrite: 73
        }
    }

    /// 77 (EX_NOPERM) for a token problem, 75 (EX_TEMPFAIL) for a service that is busy or
    /// stopping, 78 (EX_CONFIG) for the service's own setup failing, 65 (EX_DATAERR) for a
    /// request refused as invalid or not allowed.
    static func refusalExitStatus(status: Int?, code: String) -> Int32 {
        switch code {
        case "unauthorized", "forbidden_project", "forbidden_signature": 77
        // build_running: build-cli's own, for `download` of a build that has not ended.
        case "queue_full", "too_many_connections", "shutdown", "build_running": 75
        case "path_root_invalid", "workspace_create_failed", "run_as_user", "run_as_group": 78
        // Not the protocol's JSON error: another server, or http:// to the HTTPS port.
        case _ where code.hasPrefix("http_"): 76
        default: (status ?? 400) >= 500 && status != 503 ? 78 : (status == 503 ? 75 : 65)
        }
    }

    public var description: String {
        switch self {
        case .usage(let message), .unreachable(let message), .tls(let message), .download(let message), .legacyFramingOnly(let message),
            .cannotWrite(let message):
            message
        case .refused(let status, let code, let message):
            "\(message) (code \(code)\(status.map { ", HTTP \($0)" } ?? ""))"
        case .protocolViolation(let message): "unexpected answer from the build service: \(message)"
        }
    }
}
