import Foundation
import Testing

@testable import BuildServiceCore

/// Sets without a manifest (the original build-service's store) are adopted from what is on
/// disk; a set that changed since the daemon started is its own being published, never adopted.
struct ArtifactAdoptionTests {
    let store: TemporaryDirectory
    let id = "bld_" + String(repeating: "c", count: 32)

    init() throws {
        store = try TemporaryDirectory()
        try store.makeDirectory("\(id)/bin")
        try store.writeFile("\(id)/bin/app", "binary")
        try store.writeFile("\(id)/notes.txt", "text")
        try store.symlink("\(id)/link", to: "/etc/passwd")
    }

    @Test func aSetFromBeforeTheStartIsAdoptedWithItsRegularFiles() throws {
        let adopting = ArtifactStore(root: store.path, adoptsSetsFrom: Date().timeIntervalSince1970 + 60)
        let manifest = try #require(adopting.adopt(id))
        #expect(manifest.artifacts.map(\.name) == ["bin/app", "notes.txt"], "the symlink is left out")
        #expect(manifest.artifacts.map(\.size) == [6, 4])
        #expect(manifest.artifacts.allSatisfy { $0.sha256.isEmpty })
        #expect(adopting.manifest(for: id) == manifest)
        // Adopted once: a manifest now exists.
        #expect(adopting.adopt(id) == nil)
        adopting.fillInDigests(of: [id])
        #expect(adopting.manifest(for: id)?.artifacts.allSatisfy { $0.sha256.count == 64 } == true)
    }

    @Test func aSetChangedSinceTheStartIsNotAdopted() throws {
        let started = ArtifactStore(root: store.path, adoptsSetsFrom: Date().timeIntervalSince1970 - 60)
        #expect(started.adopt(id) == nil)
        #expect(started.adoptUnmanifested().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: started.manifestPath(id)))
    }

    @Test(arguments: ["bld_nothere", "../etc", "bld_" + String(repeating: "d", count: 32)])
    func namesThatAreNoSetAdoptNothing(name: String) {
        let adopting = ArtifactStore(root: store.path, adoptsSetsFrom: Date().timeIntervalSince1970 + 60)
        #expect(adopting.adopt(name) == nil)
    }
}
