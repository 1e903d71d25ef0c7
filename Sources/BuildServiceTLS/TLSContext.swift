internal import CBuildServiceOpenSSL

/// One configured OpenSSL `SSL_CTX`, owned and never changed after init (a reload builds a new
/// one; connections keep a reference to the context they started with, and `SSL_new` holds
/// OpenSSL's own reference besides).
public final class TLSContext: @unchecked Sendable {
    /// Server or client side; a connection takes its role from its context.
    public enum Role: Sendable {
        case server
        case client
    }

    // Immutable after init: OpenSSL allows SSL_new on a context from any thread once it is set up.
    let pointer: OpaquePointer
    public let role: Role
    /// The server certificate (first in the chain file), for logging its subject and expiry.
    public let leafCertificate: TLSCertificate?

    /// ECDHE key exchange with AEAD suites only (Mozilla "intermediate", nginx, Caddy).
    static let tls12Suites =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
    static let tls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    static let groups = "X25519:P-256:P-384"

    /// Builds a server context. Does blocking file I/O: call it off the event loop.
    /// - Throws: `TLSError.Code.configuration` naming the file or setting that failed.
    public init(server configuration: TLSServerConfiguration) throws(TLSError) {
        let context = try Self.newContext(TLS_server_method())
        do throws(TLSError) {
            let minimum = configuration.minimumVersion == .tls13 ? TLS1_3_VERSION : TLS1_2_VERSION
            try Self.applyProtocolSettings(context, minimum: minimum)
            bs_SSL_CTX_set_server_options(context)
            bs_SSL_CTX_select_http11_alpn(context)
            // Resumed sessions must carry the same identity context, or OpenSSL refuses them
            // once client certificates are verified.
            let sessionContext = Array("build-service".utf8)
            _ = SSL_CTX_set_session_id_context(context, sessionContext, UInt32(sessionContext.count))
            try Self.loadIdentity(context, certificate: configuration.certificatePath, key: configuration.privateKeyPath)
            if let chainPath = configuration.chainPath {
                for certificate in try TLSCertificate.loadAll(pemFile: chainPath, role: "chain file") {
                    guard bs_SSL_CTX_add1_chain_cert(context, certificate.pointer) == 1 else {
                        throw TLSError(.configuration, "chain file \(chainPath): \(OpenSSLErrorQueue.drainedText(fallback: "not accepted"))")
                    }
                }
            }
            try Self.applyClientAuth(context, configuration)
            // The certificate actually loaded, not a second read of a file that may change.
            leafCertificate = SSL_CTX_get0_certificate(context).map(TLSCertificate.init(retaining:))
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        pointer = context
        role = .server
    }

    /// Builds a client context: peer verification always on; trust from `trustedCAPath` or
    /// the system store (which honours `SSL_CERT_FILE`/`SSL_CERT_DIR`).
    /// - Throws: `TLSError.Code.configuration` naming the file that failed.
    public init(client configuration: TLSClientConfiguration) throws(TLSError) {
        let context = try Self.newContext(TLS_client_method())
        do throws(TLSError) {
            try Self.applyProtocolSettings(context, minimum: TLS1_2_VERSION)
            bs_SSL_CTX_set_client_options(context)
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            OpenSSLErrorQueue.clear()
            if let caPath = configuration.trustedCAPath {
                try TLSFiles.checkReadable(caPath, role: "CA file")
                guard SSL_CTX_load_verify_file(context, caPath) == 1 else {
                    throw TLSError(.configuration, "CA file \(caPath): \(OpenSSLErrorQueue.drainedText(fallback: "no certificates"))")
                }
            } else if SSL_CTX_set_default_verify_paths(context) != 1 {
                throw TLSError(.configuration, "system trust store: \(OpenSSLErrorQueue.drainedText(fallback: "cannot load"))")
            }
            switch (configuration.certificatePath, configuration.privateKeyPath) {
            case (let certificate?, let key?):
                try Self.loadIdentity(context, certificate: certificate, key: key)
            case (nil, nil):
                break
            default:
                throw TLSError(.configuration, "a client certificate needs both the certificate and its key")
            }
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        pointer = context
        role = .client
        leafCertificate = nil
    }

    deinit {
        SSL_CTX_free(pointer)
    }

    private static func newContext(_ method: OpaquePointer?) throws(TLSError) -> OpaquePointer {
        OpenSSLErrorQueue.clear()
        guard let context = SSL_CTX_new(method) else {
            throw TLSError(.configuration, "cannot create a TLS context: \(OpenSSLErrorQueue.drainedText(fallback: "out of memory"))")
        }
        return context
    }

    /// Every setting explicit: a bare context on Debian still enables CBC, SHA-1 and static RSA.
    private static func applyProtocolSettings(_ context: OpaquePointer, minimum: Int32) throws(TLSError) {
        OpenSSLErrorQueue.clear()
        guard bs_SSL_CTX_set_min_proto_version(context, minimum) == 1,
            bs_SSL_CTX_set_max_proto_version(context, TLS1_3_VERSION) == 1
        else {
            throw TLSError(.configuration, "cannot set TLS versions: \(OpenSSLErrorQueue.drainedText(fallback: "rejected"))")
        }
        SSL_CTX_set_security_level(context, 2)
        guard SSL_CTX_set_cipher_list(context, tls12Suites) == 1, SSL_CTX_set_ciphersuites(context, tls13Suites) == 1,
            bs_SSL_CTX_set1_groups_list(context, groups) == 1
        else {
            throw TLSError(.configuration, "cannot set TLS suites: \(OpenSSLErrorQueue.drainedText(fallback: "rejected"))")
        }
    }

    private static func loadIdentity(_ context: OpaquePointer, certificate: String, key: String) throws(TLSError) {
        try TLSFiles.checkReadable(certificate, role: "certificate file")
        try TLSFiles.checkReadable(key, role: "key file")
        OpenSSLErrorQueue.clear()
        guard SSL_CTX_use_certificate_chain_file(context, certificate) == 1 else {
            throw TLSError(
                .configuration,
                "certificate file \(certificate): not a usable PEM certificate chain (\(OpenSSLErrorQueue.drainedText(fallback: "rejected")))"
            )
        }
        guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else {
            let reasons = OpenSSLErrorQueue.drain().map(\.text)
            // OpenSSL checks the pair while loading; say it in the operator's words.
            if reasons.contains(where: { $0.contains("mismatch") }) {
                throw TLSError(.configuration, "key file \(key) does not belong to the certificate in \(certificate) (key values mismatch)")
            }
            let why = reasons.isEmpty ? "rejected" : reasons.joined(separator: "; ")
            throw TLSError(.configuration, "key file \(key): not a usable PEM private key (\(why))")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError(
                .configuration,
                "key file \(key) does not belong to the certificate in \(certificate) (\(OpenSSLErrorQueue.drainedText(fallback: "mismatch")))"
            )
        }
    }

    private static func applyClientAuth(_ context: OpaquePointer, _ configuration: TLSServerConfiguration) throws(TLSError) {
        guard configuration.clientAuth != .none else { return }
        guard let caPath = configuration.clientCAPath else {
            throw TLSError(.configuration, "client_auth \"\(configuration.clientAuth.rawValue)\" needs client_ca_path")
        }
        try TLSFiles.checkReadable(caPath, role: "client CA file")
        OpenSSLErrorQueue.clear()
        guard SSL_CTX_load_verify_file(context, caPath) == 1, let names = SSL_load_client_CA_file(caPath) else {
            throw TLSError(.configuration, "client CA file \(caPath): \(OpenSSLErrorQueue.drainedText(fallback: "no certificates"))")
        }
        // Tells clients which CAs we accept, so they pick the right certificate.
        SSL_CTX_set_client_CA_list(context, names)
        let mode = SSL_VERIFY_PEER | (configuration.clientAuth == .required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0)
        SSL_CTX_set_verify(context, mode, nil)
    }
}
