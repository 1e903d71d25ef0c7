import Foundation
import Testing

/// What a build publishes: every pattern must match, directories arrive as zips, nothing from
/// outside the project root, nothing at all when a step fails.
@Suite struct ArtifactCollectionTests {
    /// Runs `script` with sh in the project root and returns the build's events.
    private func build(_ daemon: DaemonUnderTest, _ script: String) async throws -> [EventLine] {
        let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", script]]))
        #expect(response.status == 200)
        return try parseEvents(response.body)
    }

    private func publishedManifests(_ daemon: DaemonUnderTest) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: daemon.storageRoot)) ?? []).filter { $0.hasSuffix(".json") }
    }

    private func leftovers(_ daemon: DaemonUnderTest) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: daemon.storageRoot)) ?? []).filter { $0.hasPrefix(".staging") }
    }

    @Test func filesAreStoredWithTheirDigestsAndDirectoriesAsZips() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin", "out/docs", "**/*.log"]))
        let events = try await build(
            daemon,
            """
            mkdir -p out/docs/sub logs/deep && printf 'binary\\0data' > out/app.bin && chmod 755 out/app.bin \
            && echo a > out/docs/a.txt && printf '#!/bin/sh\\n' > out/docs/sub/run.sh && chmod 755 out/docs/sub/run.sh \
            && echo log > logs/deep/x.log && echo hidden > out/.secret.bin
            """
        )
        let exit = try #require(events.last)
        #expect(exit["code"] as? Int == 0)
        let artifacts = try #require(exit["artifacts"] as? [[String: Any]])
        #expect(artifacts.map { $0["name"] as? String } == ["logs/deep/x.log", "out/app.bin", "out/docs.zip"])
        for artifact in artifacts {
            let url = try #require(artifact["url"] as? String)
            #expect(url.hasPrefix(daemon.httpBase + "/v1/builds/bld_"))
            let download = try await Download.fetch(url, in: daemon.directory)
            #expect(download.status == 200)
            #expect(download.body.count == artifact["size"] as? Int)
            let digest = try await TestProcess.run("/usr/bin/sha256sum", [], stdin: download.body, outputDirectory: daemon.directory)
            #expect(String(digest.stdoutText.prefix(64)) == artifact["sha256"] as? String)
        }
        #expect(artifacts[1]["content_type"] as? String == "application/octet-stream")
        #expect(artifacts[2]["content_type"] as? String == "application/zip")
        // The zip is real, and keeps the executable bit.
        let zipURL = try #require(artifacts[2]["url"] as? String)
        let zip = try await Download.fetch(zipURL, in: daemon.directory)
        let zipPath = daemon.directory + "/docs.zip"
        try zip.body.write(to: URL(fileURLWithPath: zipPath))
        let test = try await TestProcess.run("/usr/bin/unzip", ["-t", zipPath], outputDirectory: daemon.directory)
        #expect(test.status == 0, "\(test.stdoutText)")
        let listing = try await TestProcess.run("/usr/bin/unzip", ["-Z", zipPath], outputDirectory: daemon.directory)
        #expect(listing.stdoutText.contains("-rwxr-xr-x"), "\(listing.stdoutText)")
        #expect(listing.stdoutText.contains("sub/run.sh"))
    }

    /// `artifacts.max_bytes` holds when a set is published, not at the next hourly pass: the
    /// oldest set goes to make room; a sparse output stays sparse in the store.
    @Test func aSetThatDoesNotFitRemovesTheOldestAtPublish() async throws {
        var options = DaemonUnderTest.Options(artifacts: ["big.bin", "hollow.img"])
        options.artifactSettings = "max_bytes = 1000000"
        let daemon = try await DaemonUnderTest(options)
        // 920 kB a set: the first takes the store past 90 % (near full), the second needs its room.
        let script = "head -c 460000 /dev/urandom > big.bin && truncate -s 460000 hollow.img"
        let first = try await build(daemon, script)
        #expect(first.last?["code"] as? Int == 0)
        let firstURL = try #require((first.last?["artifacts"] as? [[String: Any]])?.first?["url"] as? String)
        let second = try await build(daemon, script)
        #expect(second.last?["code"] as? Int == 0, "\(second)")
        #expect(publishedManifests(daemon).count == 1)
        #expect(try await Download.fetch(firstURL, in: daemon.directory).status == 404)
        #expect(daemon.log.contains("removed the oldest artifact sets to make room"))
        #expect(daemon.log.contains("the artifact store is near full"))
        let metrics = try await daemon.curl("", path: "/metrics", method: "GET")
        #expect(metrics.body.contains(#"build_service_artifact_store_bytes{kind="published"} 920000"#), "\(metrics.body)")
        #expect(metrics.body.contains("build_service_artifact_store_max_bytes 1000000"))
        // The hole took no blocks in the store.
        let stored = try #require(
            (try FileManager.default.contentsOfDirectory(atPath: daemon.storageRoot)).first { $0.hasPrefix("bld_") && !$0.hasSuffix(".json") }
        )
        var info = stat()
        #expect(stat(daemon.storageRoot + "/" + stored + "/hollow.img", &info) == 0)
        #expect(info.st_size == 460_000 && info.st_blocks == 0)
        await daemon.stop()
    }

    @Test func aPatternThatMatchesNothingFailsTheBuild() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin", "out/*.nothing"]))
        let events = try await build(daemon, "mkdir -p out && echo x > out/app.bin")
        let error = try #require(events.first { $0["type"] as? String == "error" })
        #expect(error["code"] as? String == "artifact_glob_miss")
        #expect(error["pattern"] as? String == "out/*.nothing")
        #expect(events.last?["code"] as? Int != 0)
        #expect((events.last?["artifacts"] as? [Any])?.isEmpty == true)
        #expect(publishedManifests(daemon).isEmpty)
        #expect(leftovers(daemon).isEmpty)
    }

    @Test(arguments: ["ln -s /etc/passwd out/evil.bin", "mkdir -p out/docs && ln -s /etc out/docs/etc", "ln -s /etc out/docs"])
    func anArtifactLeadingOutsideTheRootIsRefusedAndNothingIsPublished(link: String) async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin", "out/docs"]))
        let events = try await build(
            daemon,
            "rm -rf out && mkdir -p out && echo ok > out/fine.bin && mkdir -p out/docs && rmdir out/docs && \(link); mkdir -p out/docs"
        )
        let error = try #require(events.first { $0["type"] as? String == "error" }, "\(events)")
        #expect(error["code"] as? String == "artifact_collection_failed")
        #expect((error["message"] as? String)?.contains("outside the project root") == true)
        #expect(events.last?["code"] as? Int == 1)
        #expect(publishedManifests(daemon).isEmpty)
        #expect(leftovers(daemon).isEmpty)
    }

    @Test(arguments: ["mkfifo out/pipe.bin", "mkdir -p out/docs && mkfifo out/docs/pipe"])
    func specialFilesAreRefusedWithoutBlocking(make: String) async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin", "out/docs"]))
        let events = try await build(daemon, "rm -rf out && mkdir -p out/docs && echo ok > out/fine.bin && \(make)")
        let error = try #require(events.first { $0["type"] as? String == "error" }, "\(events)")
        #expect(error["code"] as? String == "artifact_collection_failed")
        #expect(publishedManifests(daemon).isEmpty)
    }

    @Test func aSparseFileLargerThanTheStoreLimitIsRefusedBeforeAnythingIsCopied() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin"], artifactSettings: "max_bytes = 1048576"))
        let events = try await build(daemon, "mkdir -p out && truncate -s 1T out/huge.bin")
        let error = try #require(events.first { $0["type"] as? String == "error" }, "\(events)")
        #expect(error["code"] as? String == "artifact_collection_failed")
        #expect((error["message"] as? String)?.contains("max_bytes") == true)
        #expect(publishedManifests(daemon).isEmpty)
        #expect(leftovers(daemon).isEmpty)
    }

    @Test func aMatchedSymlinkToADirectoryInsideTheRootIsZippedWithItsFiles() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["dist"]))
        let events = try await build(daemon, "rm -rf dist build && mkdir -p build/dist && echo inside > build/dist/f.txt && ln -s build/dist dist")
        let artifact = try #require((events.last?["artifacts"] as? [[String: Any]])?.first, "\(events)")
        #expect(artifact["name"] as? String == "dist.zip")
        let zip = try await Download.fetch(try #require(artifact["url"] as? String), in: daemon.directory)
        let path = daemon.directory + "/dist.zip"
        try zip.body.write(to: URL(fileURLWithPath: path))
        let listing = try await TestProcess.run("/usr/bin/unzip", ["-l", path], outputDirectory: daemon.directory)
        #expect(listing.stdoutText.contains("f.txt"), "\(listing.stdoutText)")
    }

    @Test func aFailedBuildPublishesNothing() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin"]))
        let events = try await build(daemon, "mkdir -p out && echo x > out/app.bin && exit 3")
        #expect(events.last?["code"] as? Int == 3)
        #expect(!events.contains { $0["type"] as? String == "error" })
        #expect(publishedManifests(daemon).isEmpty)
    }

    @Test func expiredAndExcessArtifactsAreRemoved() async throws {
        let daemon = try await DaemonUnderTest(
            .init(artifacts: ["out/*.bin"], artifactSettings: "gc_interval_sec = 1\nmax_bytes = 15000\nttl_sec = 20")
        )
        var urls: [String] = []
        for round in 0..<2 {
            let events = try await build(daemon, "mkdir -p out && head -c 10000 /dev/zero > out/big.bin && echo \(round)")
            let artifacts = try #require(events.last?["artifacts"] as? [[String: Any]])
            urls.append(try #require(artifacts.first?["url"] as? String))
        }
        // Two sets of 10,000 bytes exceed max_bytes: the older one goes first…
        #expect(await eventually { publishedManifests(daemon).count == 1 })
        #expect(try await Download.fetch(urls[0], in: daemon.directory).status == 404)
        #expect(try await Download.fetch(urls[1], in: daemon.directory).status == 200)
        // …and after ttl_sec the newer one too (20 s: a loaded machine still fetches it first).
        #expect(await eventually(within: .seconds(60)) { publishedManifests(daemon).isEmpty })
        #expect(try await Download.fetch(urls[1], in: daemon.directory).status == 404)
    }

    @Test func whatACrashLeftHalfDoneIsRemovedAtStartup() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin"]))
        _ = try await build(daemon, "mkdir -p out && echo kept > out/app.bin")
        #expect(publishedManifests(daemon).count == 1)
        await daemon.stop()
        let manager = FileManager.default
        let staging = daemon.storageRoot + "/.staging-bld_" + String(repeating: "1", count: 32)
        let lonelyManifest = daemon.storageRoot + "/bld_" + String(repeating: "3", count: 32) + ".json"
        try manager.createDirectory(atPath: staging + "/out", withIntermediateDirectories: true)
        _ = manager.createFile(atPath: staging + "/out/half.bin", contents: Data("partial".utf8))
        _ = manager.createFile(atPath: lonelyManifest, contents: Data("{}".utf8))
        try await daemon.start()
        #expect(await eventually { !manager.fileExists(atPath: staging) && !manager.fileExists(atPath: lonelyManifest) })
        #expect(publishedManifests(daemon).count == 1)
        #expect(daemon.log.contains("removed unfinished artifact sets"))
    }

    /// The URL signing key lives beside the store, not in it (a server serving the store must
    /// not serve the key); one an earlier version left inside is moved out, so links stay valid.
    @Test func theSigningKeyIsKeptOutOfTheStore() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin"]))
        await daemon.stop()
        let manager = FileManager.default
        let beside = daemon.storageRoot + ".signing-key"
        let inside = daemon.storageRoot + "/.signing-key"
        let key = try #require(manager.contents(atPath: beside))
        #expect(!manager.fileExists(atPath: inside))
        try manager.moveItem(atPath: beside, toPath: inside)
        try await daemon.start()
        #expect(manager.contents(atPath: beside) == key)
        #expect(!manager.fileExists(atPath: inside))
        #expect(daemon.log.contains("moved the artifact URL signing key out of storage_root"))
        await daemon.stop()
    }

    /// The original build-service's store: `bld_<32 hex>/<path>` directories and no manifests.
    /// Pointed at it, the daemon keeps every set, serves its files, and ages it by its files.
    @Test func anOriginalStoreIsAdoptedAndItsFilesDownload() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin"], artifactSettings: "ttl_sec = 86400"))
        await daemon.stop()
        let manager = FileManager.default
        let fresh = "bld_" + String(repeating: "a", count: 32)
        let old = "bld_" + String(repeating: "b", count: 32)
        try manager.createDirectory(atPath: daemon.storageRoot + "/\(fresh)/bin", withIntermediateDirectories: true)
        let payload = Data(String(repeating: "0123456789", count: 500).utf8)
        _ = manager.createFile(atPath: daemon.storageRoot + "/\(fresh)/bin/app", contents: payload)
        _ = manager.createFile(atPath: daemon.storageRoot + "/\(fresh)/docs.zip", contents: Data("PK zip".utf8))
        try manager.createDirectory(atPath: daemon.storageRoot + "/\(old)", withIntermediateDirectories: true)
        _ = manager.createFile(atPath: daemon.storageRoot + "/\(old)/stale.txt", contents: Data("old".utf8))
        // Two days old, past ttl_sec: the original's retention would remove it, and so does ours.
        let twoDaysAgo = Date().addingTimeInterval(-2 * 86400)
        for path in ["/\(old)/stale.txt", "/\(old)"] {
            try manager.setAttributes([.modificationDate: twoDaysAgo], ofItemAtPath: daemon.storageRoot + path)
        }
        try await daemon.start()
        #expect(await eventually { daemon.log.contains("adopted artifact sets") }, "\(daemon.log)")
        #expect(manager.fileExists(atPath: daemon.storageRoot + "/\(fresh)/bin/app"))
        #expect(await eventually { !manager.fileExists(atPath: daemon.storageRoot + "/\(old)") }, "the expired set is collected")
        // Served on the socket's /artifacts route, as the original's public_base_url links are shaped.
        let download = try await daemon.curl("", path: "/artifacts/\(fresh)/bin/app", method: "GET", overSocket: true)
        #expect(download.status == 200, "\(download.body)")
        #expect(download.body.utf8.count == payload.count)
        let zip = try await daemon.curl("", path: "/artifacts/\(fresh)/docs.zip", method: "GET", overSocket: true)
        #expect(zip.status == 200 && zip.body == "PK zip")
        // The digests follow in the background, into the manifest.
        #expect(
            await eventually {
                guard let data = manager.contents(atPath: daemon.storageRoot + "/\(fresh).json"),
                    let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                    let artifacts = object["artifacts"] as? [[String: Any]]
                else { return false }
                return artifacts.count == 2 && artifacts.allSatisfy { ($0["sha256"] as? String)?.count == 64 }
            }
        )
        await daemon.stop()
    }

    @Test func publicBaseURLShapesTheURLsAndTheDaemonServesThatForm() async throws {
        let daemon = try await DaemonUnderTest(
            .init(artifacts: ["out/*.bin"], artifactSettings: "public_base_url = \"https://downloads.example.com/artifacts/\"")
        )
        let events = try await build(daemon, "mkdir -p out && echo 'odd name' > 'out/a b+c.bin'")
        let artifact = try #require((events.last?["artifacts"] as? [[String: Any]])?.first)
        let url = try #require(artifact["url"] as? String)
        let id = try #require(events.first?["id"] as? String)
        #expect(url == "https://downloads.example.com/artifacts/\(id)/out/a%20b%2Bc.bin")
        // The same path under the daemon's own /artifacts/ serves it.
        let local = try await Download.fetch(daemon.httpBase + "/artifacts/\(id)/out/a%20b%2Bc.bin", in: daemon.directory)
        #expect(local.status == 200)
        #expect(String(decoding: local.body, as: UTF8.self) == "odd name\n")
        #expect(local.header("Content-Disposition") == "attachment; filename=\"a b+c.bin\"")
    }
}
