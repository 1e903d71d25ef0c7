import BuildServiceTLS
import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import BuildServiceCore

/// The artifact store's limit held at publish time: concurrent sets never take it past
/// `max_bytes` (the oldest published go first, else `artifact_store_full`), a set is published
/// whole or not at all, and sparse files are stored sparse.
struct ArtifactQuotaTests {
    let project: TemporaryDirectory
    let storage: TemporaryDirectory

    init() throws {
        project = try TemporaryDirectory()
        storage = try TemporaryDirectory()
    }

    private func collector(maxBytes: Int) -> ArtifactCollector {
        ArtifactCollector(quota: ArtifactQuota(store: ArtifactStore(root: storage.path + "/store"), maxBytes: maxBytes))
    }

    private func buildID(_ index: Int) -> String {
        "bld_" + String(format: "%032x", index)
    }

    /// Writes `bytes` of data into `name` (a few distinct bytes, so the files differ).
    private func writeData(_ name: String, bytes: Int, seed: UInt8 = 1) throws {
        try Data((0..<bytes).map { UInt8(truncatingIfNeeded: $0) &+ seed }).write(to: URL(fileURLWithPath: project.path + "/" + name))
    }

    /// The lengths of the files under `root` (manifests aside).
    static func bytesOnDisk(_ root: String) -> Int {
        var total = 0
        guard let walker = FileManager.default.enumerator(atPath: root) else { return 0 }
        for case let relative as String in walker {
            var info = stat()
            guard !relative.hasSuffix(".json"), lstat(root + "/" + relative, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            total += Int(info.st_size)
        }
        return total
    }

    /// Bytes the store's files take on disk (blocks), and their lengths.
    private func storeUsage() -> (blocks: Int, lengths: Int) {
        var usage = (blocks: 0, lengths: 0)
        let root = storage.path + "/store"
        guard let walker = FileManager.default.enumerator(atPath: root) else { return usage }
        for case let relative as String in walker {
            var info = stat()
            guard lstat(root + "/" + relative, &info) == 0, info.st_mode & S_IFMT == S_IFREG, !relative.hasSuffix(".json") else { continue }
            usage.blocks += Int(info.st_blocks) * 512
            usage.lengths += Int(info.st_size)
        }
        return usage
    }

    @Test func theOldestSetsGoToMakeRoomForANewOne() throws {
        let collector = collector(maxBytes: 1_000_000)
        try writeData("out.bin", bytes: 400_000)
        let patterns = [try ArtifactPattern("out.bin")]
        for index in 0..<4 {
            _ = try collector.collect(buildID: buildID(index), projectID: "demo", projectRoot: project.path, patterns: patterns)
        }
        // Two sets fit; the two oldest were removed as the third and fourth came.
        let store = collector.store
        #expect((0..<4).map { store.manifest(for: buildID($0)) != nil } == [false, false, true, true])
        #expect(!FileManager.default.fileExists(atPath: storage.path + "/store/" + buildID(0)))
        #expect(storeUsage().lengths == 800_000)
        #expect(collector.quota.usage == (published: 800_000, staged: 0))
    }

    /// A set that cannot be stored fails before it makes room: the older set it would have
    /// pushed out is still there, whether the FIFO is one of its names or deep in a directory.
    @Test(arguments: [["big.bin", "pipe"], ["big.bin", "dir"]])
    func aSetThatFailsRemovesNothing(patterns: [String]) throws {
        let collector = collector(maxBytes: 1_000_000)
        try writeData("old.bin", bytes: 400_000)
        _ = try collector.collect(buildID: buildID(0), projectID: "demo", projectRoot: project.path, patterns: [try ArtifactPattern("old.bin")])
        try writeData("big.bin", bytes: 900_000)
        try project.makeDirectory("dir/deep")
        try writeData("dir/a.bin", bytes: 10)
        #expect(mkfifo(project.path + "/pipe", 0o644) == 0)
        #expect(mkfifo(project.path + "/dir/deep/pipe", 0o644) == 0)
        let error = #expect(throws: ArtifactCollectionError.self) {
            _ = try collector.collect(
                buildID: buildID(1),
                projectID: "demo",
                projectRoot: project.path,
                patterns: try patterns.map(ArtifactPattern.init)
            )
        }
        #expect(error?.code == .artifactCollectionFailed)
        #expect(error?.message.contains("pipe") == true, "\(error?.message ?? "")")
        #expect(collector.store.manifest(for: buildID(0)) != nil)
        #expect(collector.quota.usage == (published: 400_000, staged: 0))
    }

    /// Room other sets being stored hold cannot be made: `artifact_store_full`, and nothing removed.
    @Test func roomHeldByOtherSetsBeingStoredIsArtifactStoreFull() throws {
        let collector = collector(maxBytes: 1_000_000)
        try writeData("old.bin", bytes: 200_000)
        _ = try collector.collect(buildID: buildID(0), projectID: "demo", projectRoot: project.path, patterns: [try ArtifactPattern("old.bin")])
        #expect(collector.quota.reserve(700_000))
        try writeData("new.bin", bytes: 400_000)
        let error = #expect(throws: ArtifactCollectionError.self) {
            _ = try collector.collect(buildID: buildID(1), projectID: "demo", projectRoot: project.path, patterns: [try ArtifactPattern("new.bin")])
        }
        #expect(error?.code == .artifactStoreFull)
        #expect(collector.store.manifest(for: buildID(0)) != nil)
        collector.quota.release(700_000)
        #expect(collector.quota.usage == (published: 200_000, staged: 0))
    }

    /// A name that is not UTF-8 cannot be listed faithfully: the set fails, naming the
    /// directory, instead of leaving the file out.
    @Test func aNameThatIsNotUTF8FailsTheSet() throws {
        try project.makeDirectory("dir")
        var bytes = Array((project.path + "/dir/bad-").utf8CString.dropLast())
        bytes += [CChar(bitPattern: 0xFF), 0]
        let descriptor = bytes.withUnsafeBufferPointer { open($0.baseAddress!, O_WRONLY | O_CREAT, 0o644) }
        #expect(descriptor >= 0)
        close(descriptor)
        let error = #expect(throws: ArtifactCollectionError.self) {
            _ = try collector(maxBytes: 1 << 20).collect(
                buildID: buildID(1),
                projectID: "demo",
                projectRoot: project.path,
                patterns: [try ArtifactPattern("dir")]
            )
        }
        #expect(error?.message.contains("not UTF-8") == true, "\(error?.message ?? "")")
    }

    /// Eight sets of 300 kB stored at once into 1 MB: at no moment do published and staged
    /// bytes pass the limit, every set that was published is whole, and those refused say so.
    @Test func concurrentSetsNeverTakeTheStorePastItsLimit() async throws {
        let collector = collector(maxBytes: 1_000_000)
        for index in 0..<8 { try writeData("out\(index).bin", bytes: 300_000, seed: UInt8(index)) }
        let overLimit = NIOLockedValueBox(false)
        let watching = NIOLockedValueBox(true)
        let storeRoot = storage.path + "/store"
        let watcher = Thread {
            while watching.withLockedValue({ $0 }) {
                let usage = collector.quota.usage
                // What the store holds on disk, staging included, as well as what is counted.
                if usage.published + usage.staged > 1_000_000 || Self.bytesOnDisk(storeRoot) > 1_000_000 {
                    overLimit.withLockedValue { $0 = true }
                }
            }
        }
        watcher.start()
        let (ids, root) = ((0..<8).map(buildID), project.path)
        let outcomes = await withTaskGroup(of: (Int, ArtifactCollectionError?).self) { group in
            for index in 0..<8 {
                group.addTask {
                    do {
                        let patterns = [try ArtifactPattern("out\(index).bin")]
                        _ = try collector.collect(buildID: ids[index], projectID: "demo", projectRoot: root, patterns: patterns)
                        return (index, nil)
                    } catch let error as ArtifactCollectionError {
                        return (index, error)
                    } catch {
                        return (index, .failed("\(error)"))
                    }
                }
            }
            return await group.reduce(into: [(Int, ArtifactCollectionError?)]()) { $0.append($1) }
        }
        watching.withLockedValue { $0 = false }
        #expect(!overLimit.withLockedValue { $0 })
        for (index, error) in outcomes {
            if let error { #expect(error.code == .artifactStoreFull, "\(index): \(error.message)") }
        }
        #expect(outcomes.contains { $0.1 == nil })
        // Whatever is published is whole, and the store holds at most its limit.
        var published = 0
        for index in 0..<8 {
            guard let manifest = collector.store.manifest(for: buildID(index)) else { continue }
            let stored = try Data(contentsOf: URL(fileURLWithPath: storage.path + "/store/\(buildID(index))/out\(index).bin"))
            #expect(stored.count == 300_000 && SHA256Digest.hex(Array(stored)) == manifest.artifacts[0].sha256)
            published += 1
        }
        #expect(published >= 1 && published <= 3)
        #expect(storeUsage().lengths <= 1_000_000)
        #expect(collector.quota.usage.staged == 0)
    }

    /// A file whose length is not what was measured, or changes during the copy, is not stored
    /// padded with zeros or cut short: the copy fails.
    @Test func aFileThatChangesLengthFailsItsCopy() throws {
        try writeData("f.bin", bytes: 1000)
        let input = open(project.path + "/f.bin", O_RDONLY)
        defer { close(input) }
        for length in [500, 2000] {
            let output = open(project.path + "/copy-\(length)", O_WRONLY | O_CREAT, 0o644)
            defer { close(output) }
            #expect(throws: SparseFileCopy.Failure.self) {
                try SparseFileCopy.copy(from: input, to: output, length: length, hasher: nil)
            }
        }
        let output = open(project.path + "/copy", O_WRONLY | O_CREAT, 0o644)
        defer { close(output) }
        try SparseFileCopy.copy(from: input, to: output, length: 1000, hasher: nil)
        #expect(FileManager.default.contentsEqual(atPath: project.path + "/f.bin", andPath: project.path + "/copy"))
    }

    /// A 300 MB file with no data and one with two islands of data: stored with their holes
    /// (no more blocks than the data), the same bytes, and the digest of the whole length.
    @Test func sparseFilesStaySparse() throws {
        let hollow = project.path + "/hollow.img"
        #expect(FileManager.default.createFile(atPath: hollow, contents: nil))
        #expect(truncate(hollow, 300_000_000) == 0)
        let islands = project.path + "/islands.img"
        let descriptor = open(islands, O_WRONLY | O_CREAT, 0o644)
        #expect(pwrite(descriptor, "start", 5, 0) == 5)
        #expect(pwrite(descriptor, "middle", 6, 100_000_000) == 6)
        #expect(ftruncate(descriptor, 200_000_000) == 0)
        close(descriptor)

        let collector = collector(maxBytes: 1 << 30)
        let manifest = try collector.collect(
            buildID: buildID(1),
            projectID: "demo",
            projectRoot: project.path,
            patterns: [try ArtifactPattern("hollow.img"), try ArtifactPattern("islands.img")]
        )
        let usage = storeUsage()
        #expect(usage.lengths == 500_000_000)
        #expect(usage.blocks < 1_000_000, "\(usage.blocks) bytes of blocks for 11 bytes of data")
        let stored = storage.path + "/store/\(buildID(1))/islands.img"
        #expect(try ChildProcess.run("/usr/bin/cmp", [islands, stored]).status == 0)
        // The digest is the whole file's, holes read as zeros.
        let sums = try ChildProcess.run("/usr/bin/sha256sum", [hollow, islands])
        let expected = sums.output.split(separator: "\n").map { String($0.prefix(64)) }
        #expect(manifest.artifacts.map(\.sha256) == expected)
    }

    /// A directory artifact is copied into staging and zipped beside the copy: both count, so
    /// a store with room for the zip but not for both refuses the set instead of going past
    /// its limit while it zips, and one with room for both stores it.
    @Test func aDirectoryArtifactsCopyCountsWhileItIsZipped() throws {
        try FileManager.default.createDirectory(atPath: project.path + "/dist", withIntermediateDirectories: false)
        var random = SystemRandomNumberGenerator()
        try Data((0..<1_000_000).map { _ in UInt8.random(in: 0...255, using: &random) }).write(to: URL(fileURLWithPath: project.path + "/dist/blob"))
        do {
            _ = try collector(maxBytes: 1_500_000).collect(
                buildID: buildID(1),
                projectID: "demo",
                projectRoot: project.path,
                patterns: [try ArtifactPattern("dist")]
            )
            Issue.record("a 1 MB directory was zipped in a 1.5 MB store")
        } catch let error as ArtifactCollectionError {
            #expect(error.message.contains("copied (1000000 bytes) before it is zipped"), "\(error.message)")
        }
        #expect(storeUsage().lengths == 0)
        let manifest = try collector(maxBytes: 2_500_000).collect(
            buildID: buildID(2),
            projectID: "demo",
            projectRoot: project.path,
            patterns: [try ArtifactPattern("dist")]
        )
        #expect(manifest.artifacts.map(\.name) == ["dist.zip"])
    }

    /// A build controls its files' lengths, and sparse ones cost it nothing: two files of
    /// almost 2^63 bytes (on a tmpfs, which allows them) are refused as over the limit, not
    /// summed into an overflow that would kill the daemon.
    @Test func lengthsABuildMadeHugeAreRefusedWithoutOverflow() throws {
        let huge = project.path + "/huge"
        try FileManager.default.createDirectory(atPath: huge, withIntermediateDirectories: false)
        try Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "build-service-test", huge])
        defer { try? Self.run("/bin/umount", ["-l", huge]) }
        for name in ["a.img", "b.img"] {
            #expect(FileManager.default.createFile(atPath: huge + "/" + name, contents: nil))
            #expect(truncate(huge + "/" + name, off_t(Int64.max)) == 0, "\(String(cString: strerror(errno)))")
        }
        for pattern in ["huge", "huge/*.img"] {
            do {
                _ = try collector(maxBytes: 1 << 30).collect(
                    buildID: buildID(1),
                    projectID: "demo",
                    projectRoot: project.path,
                    patterns: [try ArtifactPattern(pattern)]
                )
                Issue.record("a set of two \(Int64.max)-byte files was stored (\(pattern))")
            } catch let error as ArtifactCollectionError {
                #expect(error.message.contains("add up to more than artifacts.max_bytes"), "\(error.message)")
            }
        }
    }

    /// Runs a program to its end; throws when it fails.
    private static func run(_ program: String, _ arguments: [String]) throws {
        guard try ChildProcess.run(program, arguments).status == 0 else { throw CocoaError(.executableLoad) }
    }
}
