import Foundation
import NIOCore
import Testing

@testable import BuildServiceCore
@testable import BuildServiceServer

/// Small files are kept in memory up to a budget for all builds together; past it they are
/// still served (read from disk per request), and a set that goes gives its bytes back.
@Suite struct ArtifactCacheBudgetTests {
    @Test func filesPastTheBudgetStayOnDiskAndARemovedSetGivesItsBytesBack() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("artifact-cache-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        // adoptsSetsFrom 0: a set without a manifest is never taken for the original's.
        let store = ArtifactStore(root: root, adoptsSetsFrom: 0)
        try store.prepare()
        let id = BuildID.make()
        try FileManager.default.createDirectory(atPath: root + "/" + id, withIntermediateDirectories: true)
        let first = [UInt8](repeating: 0x61, count: 4096)
        let second = [UInt8](repeating: 0x62, count: 4096)
        #expect(FileManager.default.createFile(atPath: root + "/\(id)/a.bin", contents: Data(first)))
        #expect(FileManager.default.createFile(atPath: root + "/\(id)/b.bin", contents: Data(second)))
        let manifest = ArtifactManifest(
            buildID: id,
            project: "p",
            created: 1,
            artifacts: ["a.bin", "b.bin"].map {
                StoredArtifact(name: $0, size: 4096, sha256: "", contentType: "application/octet-stream", modified: 1)
            }
        )
        try store.write(manifest)

        let cache = ArtifactCache(contentBudget: 5000)
        #expect(try #require(cache.prepared(buildID: id, name: "a.bin", in: store)).artifact.content == ByteBuffer(bytes: first))
        // The second file would take the memory past 5,000 bytes: prepared, but without its bytes.
        let overBudget = try #require(cache.prepared(buildID: id, name: "b.bin", in: store))
        #expect(overBudget.artifact.content == nil)
        #expect(overBudget.artifact.fullHeaders.first(name: "Content-Length") == "4096")

        // The set goes (its manifest first, as retention removes it): nothing is served…
        try FileManager.default.removeItem(atPath: store.manifestPath(id))
        #expect(cache.prepared(buildID: id, name: "a.bin", in: store) == nil)
        // …and once it is back, the memory it held is free again for its files.
        try store.write(manifest)
        #expect(try #require(cache.prepared(buildID: id, name: "b.bin", in: store)).artifact.content == ByteBuffer(bytes: second))
    }
}
