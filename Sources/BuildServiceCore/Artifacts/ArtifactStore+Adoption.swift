import Foundation

/// A store this daemon did not write: the original build-service keeps `<storage_root>/<build_id>/`
/// directories with no manifest. They are finished sets, and links to them are out in the world,
/// so they are adopted, not removed: a manifest is written from what is on disk (names, sizes,
/// modification times; the set's age is its newest mtime, as the original's retention judged
/// it), first without digests, which are filled in afterwards. All of it runs in the background
/// after startup; a download of a set not adopted yet adopts that one on the spot.
extension ArtifactStore {
    /// Writes a manifest for every `bld_…` directory that has none (blocking).
    /// - Returns: the ids adopted (their digests still to fill in with `fillInDigests`).
    public func adoptUnmanifested() -> [String] {
        let manager = FileManager.default
        guard let entries = try? manager.contentsOfDirectory(atPath: root) else { return [] }
        return entries.filter { BuildID.isValid($0) && !manager.fileExists(atPath: manifestPath($0)) && adopt($0) != nil }
    }

    /// Adopts one set: its manifest, written from disk, or nil when `buildID` names no
    /// directory, one that has a manifest already, or one changed since the daemon started
    /// (this daemon's own, between its rename into place and its manifest).
    public func adopt(_ buildID: String) -> ArtifactManifest? {
        var info = stat()
        guard BuildID.isValid(buildID), lstat(directory(buildID), &info) == 0, info.st_mode & S_IFMT == S_IFDIR,
            Double(info.st_ctim.tv_sec) + Double(info.st_ctim.tv_nsec) / 1e9 < adoptsSetsFrom,
            !FileManager.default.fileExists(atPath: manifestPath(buildID))
        else { return nil }
        let found = files(in: buildID)
        let manifest = ArtifactManifest(buildID: buildID, project: "", created: found.newest, artifacts: found.artifacts)
        return (try? write(manifest)) != nil ? manifest : nil
    }

    /// Computes the sha256 of each artifact of the adopted sets and rewrites their manifests
    /// (blocking: run it off the event loops). A set removed meanwhile is skipped.
    public func fillInDigests(of buildIDs: [String]) {
        for id in buildIDs {
            guard var manifest = manifest(for: id) else { continue }
            var changed = false
            for index in manifest.artifacts.indices where manifest.artifacts[index].sha256.isEmpty {
                let name = manifest.artifacts[index].name
                guard let (size, digest) = try? ArtifactCollector.sizeAndDigest(of: directory(id) + "/" + name, name: name) else { continue }
                manifest.artifacts[index].size = size
                manifest.artifacts[index].sha256 = digest
                changed = true
            }
            // Written only if the set is still there (retention may have removed it meanwhile).
            if changed, FileManager.default.fileExists(atPath: manifestPath(id)) { try? write(manifest) }
        }
    }

    /// Regular files below the set's directory (symlinks and anything else are left out), and
    /// the newest modification time of anything in it.
    private func files(in buildID: String) -> (artifacts: [StoredArtifact], newest: Double) {
        var artifacts: [StoredArtifact] = []
        var newest = 0.0
        var pending = [""]
        while let relative = pending.popLast() {
            let path = relative.isEmpty ? directory(buildID) : directory(buildID) + "/" + relative
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            newest = max(newest, Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                    pending.append(relative.isEmpty ? name : relative + "/" + name)
                }
            case S_IFREG:
                artifacts.append(
                    StoredArtifact(
                        name: relative,
                        size: Int(info.st_size),
                        sha256: "",
                        contentType: ContentType.forName(relative),
                        modified: Int(info.st_mtim.tv_sec)
                    )
                )
            default:
                continue
            }
        }
        return (artifacts.sorted { $0.name < $1.name }, newest)
    }
}
