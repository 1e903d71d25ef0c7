internal import CBuildServiceOpenSSL
public import FoundationEssentials
import Glibc

/// One X509 certificate, owned: freed exactly once when the last reference goes.
public final class TLSCertificate: @unchecked Sendable {
    // Immutable after init; OpenSSL allows concurrent reads of an X509.
    let pointer: OpaquePointer

    private init(taking pointer: OpaquePointer) {
        self.pointer = pointer
    }

    /// Shares a certificate another owner (an SSL_CTX) holds: takes a reference of its own.
    convenience init(retaining pointer: OpaquePointer) {
        X509_up_ref(pointer)
        self.init(taking: pointer)
    }

    deinit {
        X509_free(pointer)
    }

    /// Every certificate in a PEM file, in file order.
    /// - Throws: `TLSError.Code.configuration` naming the file when it cannot be read or holds
    ///   no certificate.
    public static func loadAll(pemFile path: String, role: String) throws(TLSError) -> [TLSCertificate] {
        try TLSFiles.checkReadable(path, role: role)
        OpenSSLErrorQueue.clear()
        guard let bio = BIO_new_file(path, "r") else {
            throw TLSError(.configuration, "\(role) \(path): \(OpenSSLErrorQueue.drainedText(fallback: "cannot open"))")
        }
        defer { BIO_free(bio) }
        var certificates: [TLSCertificate] = []
        while let x509 = PEM_read_bio_X509(bio, nil, nil, nil) {
            certificates.append(TLSCertificate(taking: x509))
        }
        // Reading stops with "no start line" at the end of the file: expected once we have some.
        let reasons = OpenSSLErrorQueue.drain()
        guard !certificates.isEmpty else {
            let why = reasons.first?.text ?? "no certificate found"
            throw TLSError(.configuration, "\(role) \(path): not a PEM certificate (\(why))")
        }
        return certificates
    }

    /// The subject as one line, e.g. "CN=localhost".
    public var subject: String {
        guard let name = X509_get_subject_name(pointer), let text = X509_NAME_oneline(name, nil, 0) else { return "?" }
        defer { CRYPTO_free(text, #fileID, #line) }
        // "/CN=localhost/O=x": the slashes at either end go.
        let line = String(cString: text)
        return String(line.drop { $0 == "/" }.reversed().drop { $0 == "/" }.reversed())
    }

    /// The end of the validity period.
    public var notAfter: Date? {
        guard let time = X509_get0_notAfter(pointer) else { return nil }
        var parsed = tm()
        guard ASN1_TIME_to_tm(time, &parsed) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parsed)))
    }
}

enum TLSFiles {
    /// A readable-file check first, so "No such file or directory" is said in those words
    /// instead of OpenSSL's "system lib".
    static func checkReadable(_ path: String, role: String) throws(TLSError) {
        guard let file = fopen(path, "r") else {
            throw TLSError(.configuration, "\(role) \(path): cannot read (\(String(cString: strerror(errno))))")
        }
        fclose(file)
    }
}
