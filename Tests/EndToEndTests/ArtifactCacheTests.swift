import Foundation
import Testing

/// Downloads are answered from what the daemon keeps in memory per artifact (headers made
/// once, small files' bytes): every size, Range and HEAD answer holds exactly the bytes on
/// disk, the first request (which fills the cache) and the later ones alike, and a set that is
/// collected or replaced is never served from memory afterwards.
@Suite struct ArtifactCacheTests {
    /// Around the sizes where the serving path changes: empty, the in-memory limit (64 KiB),
    /// and more than one 256 KiB chunk of the streamed path.
    static let sizes = [0, 1, 4096, 65536, 65537, 600_000]

    private func build(_ daemon: DaemonUnderTest, _ script: String) async throws -> [String: String] {
        let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", script]]))
        let artifacts = try #require(try parseEvents(response.body).last?["artifacts"] as? [[String: Any]], "\(response.body)")
        var urls: [String: String] = [:]
        for artifact in artifacts {
            urls[try #require(artifact["name"] as? String)] = try #require(artifact["url"] as? String)
        }
        return urls
    }

    @Test(arguments: [false, true])
    func everySizeAnswersWithTheBytesOnDisk(tls: Bool) async throws {
        let certificates = tls ? try await TestCertificates() : nil
        let daemon = try await DaemonUnderTest(.init(tls: certificates.map { .init(certificates: $0) }, artifacts: ["out/*.bin"]))
        let extra = certificates.map { ["--cacert", $0.caPath] } ?? []
        let script = "mkdir -p out && " + Self.sizes.map { "head -c \($0) /dev/urandom > out/s\($0).bin" }.joined(separator: " && ")
        let urls = try await build(daemon, script)
        for size in Self.sizes {
            let url = try #require(urls["out/s\(size).bin"])
            let disk = try #require(FileManager.default.contents(atPath: daemon.projectRoot + "/out/s\(size).bin"))
            let get = { (headers: [String], method: String) in
                try await Download.fetch(url, headers: headers, method: method, extra: extra, in: daemon.directory)
            }
            let first = try await get([], "GET")
            let second = try await get([], "GET")
            #expect(first.status == 200 && second.status == 200, "\(size) bytes: \(first.status), \(second.status)")
            #expect(sameBytes(first.body, disk) && sameBytes(second.body, disk), "\(size) bytes")
            #expect(first.headers == second.headers, "\(size) bytes: the cached answer's headers differ from the first")
            #expect(first.header("Content-Length") == String(size))
            let head = try await get([], "HEAD")
            #expect(head.headers == first.headers, "\(size) bytes: HEAD's headers differ from GET's")
            // (curl -I writes the headers where the body would go: nothing else may be there.)
            #expect(String(decoding: head.body, as: UTF8.self) == head.headers)
            guard size > 0 else {
                // An empty file has no ranges: the whole (empty) file, as nginx does.
                let ranged = try await get(["Range: bytes=0-0"], "GET")
                #expect(ranged.status == 200 && ranged.body.isEmpty)
                continue
            }
            for (range, bytes) in [("bytes=0-0", 0...0), ("bytes=-1", (size - 1)...(size - 1)), ("bytes=\(size / 2)-", (size / 2)...(size - 1))] {
                let partial = try await get(["Range: \(range)"], "GET")
                #expect(partial.status == 206, "\(size) bytes, \(range)")
                #expect(partial.header("Content-Range") == "bytes \(bytes.lowerBound)-\(bytes.upperBound)/\(size)")
                #expect(sameBytes(partial.body, disk[bytes]), "\(size) bytes, \(range)")
                let partialHead = try await get(["Range: \(range)"], "HEAD")
                #expect(partialHead.headers == partial.headers, "\(size) bytes, HEAD \(range)")
                #expect(String(decoding: partialHead.body, as: UTF8.self) == partialHead.headers)
            }
            if size > 1 {
                let multi = try await get(["Range: bytes=0-0,-1"], "GET")
                #expect(multi.status == 206)
                // The two parts' bytes, each after its part header's blank line.
                let text = multi.body
                let parts = text.split(separator: Data("\r\n\r\n".utf8)).dropFirst()
                #expect(parts.count == 2, "\(size) bytes: \(parts.count) parts")
                #expect(parts.first?.first == disk.first && parts.last?.first == disk.last, "\(size) bytes, multipart")
            }
            let notModified = try await get(["If-None-Match: \(try #require(first.header("ETag")))"], "GET")
            #expect(notModified.status == 304 && notModified.body.isEmpty)
        }
    }

    @Test func aCollectedSetIsNotServedFromMemory() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin"], artifactSettings: "gc_interval_sec = 1\nmax_bytes = 15000"))
        let old = try #require(try await build(daemon, "mkdir -p out && head -c 4096 /dev/urandom > out/small.bin")["out/small.bin"])
        for _ in 0..<2 { #expect(try await Download.fetch(old, in: daemon.directory).status == 200) }
        // A second set over max_bytes with the first: retention removes the older one.
        _ = try await build(daemon, "mkdir -p out && rm -f out/small.bin && head -c 12000 /dev/urandom > out/big.bin")
        #expect(
            await eventually { !FileManager.default.fileExists(atPath: daemon.storageRoot + "/" + Self.buildID(in: old) + ".json") }
        )
        let after = try await Download.fetch(old, in: daemon.directory)
        #expect(after.status == 404, "served \(after.body.count) bytes of a collected set")
    }

    /// A set replaced on disk (manifest and file renamed into place, as publishing does) is
    /// read anew: the next download has the new bytes and the new validators.
    @Test func aReplacedSetIsReadAnew() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin"]))
        let url = try #require(try await build(daemon, "mkdir -p out && head -c 2000 /dev/urandom > out/app.bin")["out/app.bin"])
        let before = try await Download.fetch(url, in: daemon.directory)
        #expect(before.status == 200 && before.body.count == 2000)
        _ = try await Download.fetch(url, in: daemon.directory)

        let buildID = Self.buildID(in: url)
        let replacement = Data((0..<3000).map { UInt8($0 % 251) })
        let directory = daemon.storageRoot + "/" + buildID
        let manifestPath = daemon.storageRoot + "/" + buildID + ".json"
        #expect(FileManager.default.createFile(atPath: directory + "/out/app.bin.new", contents: replacement))
        #expect(rename(directory + "/out/app.bin.new", directory + "/out/app.bin") == 0)
        var manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath))) as? [String: Any])
        var artifacts = try #require(manifest["artifacts"] as? [[String: Any]])
        artifacts[0]["size"] = replacement.count
        artifacts[0]["sha256"] = String(repeating: "ab", count: 32)
        manifest["artifacts"] = artifacts
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: manifestPath + ".new"))
        #expect(rename(manifestPath + ".new", manifestPath) == 0)

        let after = try await Download.fetch(url, in: daemon.directory)
        #expect(after.status == 200)
        #expect(sameBytes(after.body, replacement), "\(after.body.count) bytes: the old file was served")
        #expect(after.header("ETag") == "\"\(String(repeating: "ab", count: 32))\"")
    }

    private static func buildID(in url: String) -> String {
        String(url.split(separator: "/").first { $0.hasPrefix("bld_") } ?? "")
    }
}
