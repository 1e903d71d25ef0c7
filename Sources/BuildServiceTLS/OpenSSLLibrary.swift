internal import CBuildServiceOpenSSL

/// Facts about the OpenSSL library the binaries were linked against.
///
/// TLS itself arrives with the HTTPS listener; until then this is what proves the C shim
/// links against Debian's OpenSSL 3 (and that no other TLS library is in the binaries).
public enum OpenSSLLibrary {
    /// The version text OpenSSL reports at run time, e.g. "OpenSSL 3.0.19 1 Jul 2025".
    public static var versionText: String {
        String(cString: bs_openssl_version_text())
    }
}
