/// What the daemon's HTTPS listener serves: its certificate, key, optional extra chain and
/// client-certificate policy. Protocols, suites and groups are fixed to safe values in
/// `TLSContext`; only the minimum version is a choice.
public struct TLSServerConfiguration: Sendable, Equatable {
    public enum MinimumVersion: String, Sendable, CaseIterable {
        case tls12 = "1.2"
        case tls13 = "1.3"
    }

    /// Whether clients must (or may) present a certificate signed by `clientCAPath`.
    public enum ClientAuth: String, Sendable, CaseIterable {
        case none
        case optional
        case required
    }

    /// PEM: the leaf certificate, optionally followed by its intermediates.
    public var certificatePath: String
    /// PEM private key of the leaf.
    public var privateKeyPath: String
    /// PEM: extra chain certificates sent after those in `certificatePath`.
    public var chainPath: String?
    public var minimumVersion = MinimumVersion.tls12
    /// PEM: the CAs client certificates must chain to (needed unless `clientAuth` is `.none`).
    public var clientCAPath: String?
    public var clientAuth = ClientAuth.none

    public init(certificatePath: String, privateKeyPath: String) {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
    }
}

/// How build-cli connects: whom it trusts and, for mutual TLS, what it presents.
public struct TLSClientConfiguration: Sendable, Equatable {
    /// PEM CA file to trust instead of the system store.
    public var trustedCAPath: String?
    /// PEM client certificate (and chain) and its key, for servers that ask for one.
    public var certificatePath: String?
    public var privateKeyPath: String?

    public init(trustedCAPath: String? = nil, certificatePath: String? = nil, privateKeyPath: String? = nil) {
        self.trustedCAPath = trustedCAPath
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
    }
}
