/// Why a TLS context could not be built or a TLS connection failed. The message carries
/// OpenSSL's own reasons (drained from its error queue), so a log line or a build-cli error says
/// what actually went wrong: "certificate has expired", "no shared cipher", "key values mismatch".
public struct TLSError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String {
            case configuration
            case handshakeFailed
            case certificateVerificationFailed
            case handshakeTimeout
            case plaintextHTTP
            case connectionFailed
        }

        private let kind: Kind

        /// A certificate, key or setting could not be loaded or applied.
        public static let configuration = Code(kind: .configuration)
        /// The peers could not agree (protocol, suite, ALPN) or the peer broke the handshake.
        public static let handshakeFailed = Code(kind: .handshakeFailed)
        /// The peer's certificate is not trusted, expired, or for another host.
        public static let certificateVerificationFailed = Code(kind: .certificateVerificationFailed)
        /// The handshake did not complete in time.
        public static let handshakeTimeout = Code(kind: .handshakeTimeout)
        /// A plain HTTP request arrived on the TLS port.
        public static let plaintextHTTP = Code(kind: .plaintextHTTP)
        /// A failure after the handshake: a bad record, a fatal alert from the peer.
        public static let connectionFailed = Code(kind: .connectionFailed)

        public var description: String { kind.rawValue }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
