/// The room one set being collected holds in the store (see `ArtifactQuota`).
final class ArtifactReservation {
    let quota: ArtifactQuota
    private(set) var bytes = 0

    init(quota: ArtifactQuota) { self.quota = quota }

    /// Brings the reservation to `total` bytes: more is reserved (older sets may go to make
    /// room), less given back.
    func settle(to total: Int) throws(ArtifactCollectionError) {
        if total < bytes {
            quota.release(bytes - total)
        } else if total > bytes {
            guard quota.reserve(total - bytes) else {
                throw .storeFull(
                    "no room for the artifacts in the artifact store (artifacts.max_bytes = \(quota.maxBytes) bytes,"
                        + " held by sets other builds are storing now); try again when they are done"
                )
            }
        }
        bytes = total
    }

    /// Gives all of it back (the set failed).
    func cancel() {
        quota.release(bytes)
        bytes = 0
    }
}
