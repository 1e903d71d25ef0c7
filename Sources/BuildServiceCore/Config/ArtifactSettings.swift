/// `[artifacts]`: where build outputs are kept and how they are addressed.
public struct ArtifactSettings: Sendable {
    public var storageRoot = "/var/lib/build-service/artifacts"
    public var publicBaseURL: String?
    public var ttlSec = 86_400
    public var gcIntervalSec = 3600
    public var maxBytes: Int = 10 * 1024 * 1024 * 1024
    /// Key for signed artifact URLs; `nil` means `<storage_root>.signing-key`, beside the store
    /// and never inside it (another server may serve the store, as in the original's model).
    /// Made (0600) on first start if absent.
    public var signingKeyFile: String?
    /// How long a signed artifact URL stays valid.
    public var urlTTLSec = 3600

    /// Where the signing key lives.
    public var signingKeyPath: String { signingKeyFile ?? storageRoot + ".signing-key" }
    /// Where an earlier version kept it by default: inside the store.
    public var signingKeyPathInsideTheStore: String { storageRoot + "/.signing-key" }
}
