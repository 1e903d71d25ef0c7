/// Why build-cli could not get a build's result. Each case maps to its own exit status.
public enum ClientError: Error, Sendable, CustomStringConvertible {
    /// Bad flags or environment (exit 2).
    case usage(String)
    /// The service could not be reached or the connection broke (exit 69, EX_UNAVAILABLE).
    case unreachable(String)
    /// The service refused the request: HTTP status (nil on the legacy framing), code, message (exit 1).
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

    public var exitStatus: Int32 {
        switch self {
        case .usage: 2
        case .unreachable: 69
        case .refused: 1
        case .protocolViolation, .tls, .legacyFramingOnly: 76
        case .download: 65
        }
    }

    public var description: String {
        switch self {
        case .usage(let message), .unreachable(let message), .tls(let message), .download(let message), .legacyFramingOnly(let message):
            message
        case .refused(let status, let code, let message):
            "\(message) (code \(code)\(status.map { ", HTTP \($0)" } ?? ""))"
        case .protocolViolation(let message): "unexpected answer from the build service: \(message)"
        }
    }
}
