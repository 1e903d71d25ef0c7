internal import CBuildServiceOpenSSL
import FoundationEssentials
import Glibc
import NIOCore

/// One TLS session over two memory BIOs: ciphertext from the network is fed in, plaintext is
/// read out, and whatever OpenSSL wants to send is taken from the write BIO after every call.
/// Event-loop confined; freed (SSL and both BIOs) exactly once in `deinit`.
final class TLSConnection {
    enum HandshakeResult {
        case complete
        case needsMoreData
        case failed(TLSError)
    }

    /// Ciphertext fed and plaintext encrypted per OpenSSL call: the memory BIOs never hold
    /// much more than this (they do not shrink once grown).
    static let sliceSize = 65_536

    enum ReadResult: Equatable {
        /// Everything buffered was decrypted; more ciphertext is needed.
        case needsMoreData
        /// The peer sent close_notify.
        case closedByPeer
        case failed(TLSError)
    }

    private let ssl: OpaquePointer
    private let writeBIO: OpaquePointer
    private let readBIO: OpaquePointer
    let context: TLSContext

    /// - Parameter serverHostname: for clients, the name the server's certificate must match
    ///   (a DNS name or an IP literal); also sent as SNI when it is a DNS name.
    init(context: TLSContext, serverHostname: String?) throws(TLSError) {
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(context.pointer) else {
            throw TLSError(.configuration, "cannot create a TLS session: \(OpenSSLErrorQueue.drainedText(fallback: "out of memory"))")
        }
        guard let readBIO = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError(.configuration, "cannot create TLS buffers")
        }
        guard let writeBIO = BIO_new(BIO_s_mem()) else {
            BIO_free(readBIO)
            SSL_free(ssl)
            throw TLSError(.configuration, "cannot create TLS buffers")
        }
        // An empty read BIO means "no data yet", not end of stream: TCP EOF is seen by NIO.
        bs_BIO_set_mem_eof_return(readBIO, -1)
        SSL_set_bio(ssl, readBIO, writeBIO)  // the SSL owns both BIOs from here on
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        self.context = context
        switch context.role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client:
            SSL_set_connect_state(ssl)
            try configureClient(serverHostname: serverHostname)
        }
    }

    deinit {
        SSL_free(ssl)
    }

    private func configureClient(serverHostname: String?) throws(TLSError) {
        var name = serverHostname ?? ""
        while name.hasSuffix(".") { name.removeLast() }
        guard !name.isEmpty, !name.utf8.contains(0) else {
            // An empty name would switch hostname verification off: never allow that.
            throw TLSError(.configuration, "a TLS connection needs the server's host name to verify its certificate")
        }
        OpenSSLErrorQueue.clear()
        // RFC 6066: SNI carries DNS names only, never an IP literal.
        if !Self.isIPLiteral(name) {
            guard bs_SSL_set_tlsext_host_name(ssl, name) == 1 else {
                throw TLSError(.configuration, "server name \(name): \(OpenSSLErrorQueue.drainedText(fallback: "rejected"))")
            }
        }
        // Checks DNS names against DNS SANs and IP literals against IP SANs.
        SSL_set_hostflags(ssl, bs_X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | bs_X509_CHECK_FLAG_NEVER_CHECK_SUBJECT)
        guard SSL_set1_host(ssl, name) == 1, bs_SSL_offer_http11_alpn(ssl) == 1 else {
            throw TLSError(.configuration, "server name \(name): \(OpenSSLErrorQueue.drainedText(fallback: "rejected"))")
        }
    }

    static func isIPLiteral(_ name: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
    }

    /// Hands ciphertext from the network to OpenSSL.
    func feed(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            // A memory BIO grows as needed; the loop only guards against short writes.
            while offset < bytes.count {
                let written = BIO_write(readBIO, bytes.baseAddress! + offset, Int32(min(bytes.count - offset, Int(Int32.max))))
                guard written > 0 else { break }
                offset += Int(written)
            }
        }
    }

    func handshake() -> HandshakeResult {
        OpenSSLErrorQueue.clear()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .complete }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .needsMoreData
        default:
            return .failed(handshakeError())
        }
    }

    private func handshakeError() -> TLSError {
        let entries = OpenSSLErrorQueue.drain()
        if entries.contains(where: { $0.reason == bs_SSL_R_HTTP_REQUEST }) {
            return TLSError(.plaintextHTTP, "a plain HTTP request arrived on the HTTPS port")
        }
        let verifyResult = SSL_get_verify_result(ssl)
        if verifyResult != X509_V_OK {
            let reason = String(cString: X509_verify_cert_error_string(verifyResult))
            return TLSError(.certificateVerificationFailed, "certificate verify failed: \(reason)")
        }
        let reasons = entries.map(\.text)
        return TLSError(.handshakeFailed, reasons.isEmpty ? "the peer ended the handshake" : reasons.joined(separator: "; "))
    }

    /// Decrypts everything available into `buffer` (one call yields at most one record, so it
    /// loops until OpenSSL needs more ciphertext). The buffer grows only once it is full: a
    /// record larger than the room left is read in two calls, where reserving a record's room
    /// up front reallocated the buffer for every small request.
    func readPlaintext(into buffer: inout ByteBuffer) -> ReadResult {
        while true {
            if buffer.writableBytes == 0 { buffer.reserveCapacity(minimumWritableBytes: 16_640) }
            OpenSSLErrorQueue.clear()
            var count = 0
            let result = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { bytes in
                let ok = SSL_read_ex(ssl, bytes.baseAddress, bytes.count, &count)
                return ok == 1 ? count : 0
            }
            if result > 0 { continue }
            switch SSL_get_error(ssl, 0) {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                return .needsMoreData
            case SSL_ERROR_ZERO_RETURN:
                return .closedByPeer
            default:
                return .failed(TLSError(.connectionFailed, OpenSSLErrorQueue.drainedText(fallback: "TLS read failed")))
            }
        }
    }

    /// Encrypts all of `buffer` in slices (memory BIOs never push back), so the write BIO
    /// holds at most one slice of ciphertext; `takeOutput` collects what accumulates.
    func write(_ buffer: ByteBuffer) -> TLSError? {
        var remaining = buffer
        while remaining.readableBytes > 0 {
            let slice = remaining.readSlice(length: min(remaining.readableBytes, Self.sliceSize))!
            OpenSSLErrorQueue.clear()
            var written = 0
            let ok = slice.withUnsafeReadableBytes { bytes in
                SSL_write_ex(ssl, bytes.baseAddress, bytes.count, &written)
            }
            guard ok == 1, written == slice.readableBytes else {
                return TLSError(.connectionFailed, OpenSSLErrorQueue.drainedText(fallback: "TLS write failed"))
            }
            drainWriteBIO()
        }
        return nil
    }

    /// Ciphertext moved out of the write BIO as it is produced, handed over by `takeOutput`.
    private var produced: [ByteBuffer] = []
    private let allocator = ByteBufferAllocator()

    private func drainWriteBIO() {
        let pending = BIO_ctrl_pending(writeBIO)
        guard pending > 0 else { return }
        var buffer = allocator.buffer(capacity: pending)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { bytes in
            Int(max(0, BIO_read(writeBIO, bytes.baseAddress, Int32(pending))))
        }
        produced.append(buffer)
    }

    /// Queues our close_notify (taken out with `takeOutput`).
    func shutdown() {
        OpenSSLErrorQueue.clear()
        _ = SSL_shutdown(ssl)
        OpenSSLErrorQueue.clear()
    }

    /// The ciphertext OpenSSL produced since the last call, in the pieces it was drained in
    /// (written out as they are: the socket gathers them, nothing is copied again).
    func takeOutputParts() -> [ByteBuffer] {
        drainWriteBIO()
        defer { produced.removeAll(keepingCapacity: true) }
        return produced
    }

    /// The negotiated protocol version ("TLSv1.3") and ALPN protocol, for logs.
    var negotiated: (version: String, alpn: String?, resumed: Bool) {
        let version = String(cString: SSL_get_version(ssl))
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        let alpn = data.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(length)), as: UTF8.self) }
        return (version, alpn, SSL_session_reused(ssl) == 1)
    }
}
