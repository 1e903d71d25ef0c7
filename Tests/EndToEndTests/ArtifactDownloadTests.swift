import Foundation
import Testing

/// Downloads behave like nginx serving a static file (the Range table of
/// reference/TLS-AND-HTTP.md §4), resume with curl and wget, and reveal nothing else.
@Suite struct ArtifactDownloadTests {
    let daemon: DaemonUnderTest
    /// 10,000 bytes, every one distinguishable by position.
    let content: Data
    let url: String
    let etag: String

    init() async throws {
        daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin"]))
        let script = "mkdir -p out && i=0; while [ $i -lt 2000 ]; do printf '%05d' $i; i=$((i+1)); done > out/data.bin"
        let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", script]]))
        let artifacts = try #require(try parseEvents(response.body).last?["artifacts"] as? [[String: Any]])
        url = try #require(artifacts.first?["url"] as? String)
        etag = "\"\(try #require(artifacts.first?["sha256"] as? String))\""
        content = try #require(FileManager.default.contents(atPath: daemon.projectRoot + "/out/data.bin"))
        #expect(content.count == 10_000)
    }

    private func get(_ headers: [String] = [], method: String = "GET", url: String? = nil) async throws -> Download {
        try await Download.fetch(url ?? self.url, headers: headers, method: method, in: daemon.directory)
    }

    @Test(arguments: [
        ("bytes=0-99", 0, 99), ("bytes=-500", 9500, 9999), ("bytes=9500-", 9500, 9999), ("bytes=9990-20000", 9990, 9999),
        ("bytes = 5-5", 5, 5),
    ])
    func singleRangesAnswer206WithExactlyThoseBytes(range: String, first: Int, last: Int) async throws {
        let response = try await get(["Range: \(range)"])
        #expect(response.status == 206)
        #expect(response.header("Content-Range") == "bytes \(first)-\(last)/10000")
        #expect(response.header("Content-Length") == String(last - first + 1))
        #expect(response.body == content[first...last])
    }

    @Test(arguments: ["bytes=10000-", "bytes=-0", "bytes=abc", "bytes=100-50"])
    func unsatisfiableOrMalformedRangesAnswer416(range: String) async throws {
        let response = try await get(["Range: \(range)"])
        #expect(response.status == 416)
        #expect(response.header("Content-Range") == "bytes */10000")
    }

    @Test(arguments: ["items=0-5", "bytes=0-9999,0-9999"])
    func unknownUnitsAndOverlargeMultiRangesGetTheWholeFile(range: String) async throws {
        let response = try await get(["Range: \(range)"])
        #expect(response.status == 200)
        #expect(sameBytes(response.body, content), "\(response.body.count) of \(content.count) bytes")
        #expect(response.header("Accept-Ranges") == "bytes")
    }

    @Test func severalRangesArriveAsMultipartByteranges() async throws {
        let response = try await get(["Range: bytes=0-9,100-109,-5"])
        #expect(response.status == 206)
        let contentType = try #require(response.header("Content-Type"))
        #expect(contentType.hasPrefix("multipart/byteranges; boundary="))
        let boundary = String(contentType.split(separator: "=").last!)
        #expect(response.header("Content-Length") == String(response.body.count))
        // Split the body at the boundaries and check each part's header and bytes.
        let text = String(decoding: response.body, as: UTF8.self)
        let parts = text.components(separatedBy: "--\(boundary)").dropFirst()
        #expect(parts.last?.hasPrefix("--") == true)
        let expected: [(String, ClosedRange<Int>)] = [("0-9", 0...9), ("100-109", 100...109), ("9995-9999", 9995...9999)]
        for (part, (label, range)) in zip(parts.dropLast(), expected) {
            let pieces = part.components(separatedBy: "\r\n\r\n")
            #expect(pieces[0].contains("Content-Range: bytes \(label)/10000"))
            // Each part's bytes are followed by the CRLF that precedes the next boundary.
            #expect(Data(pieces[1].utf8).dropLast(2) == content[range])
        }
    }

    /// Artifact bytes sent count in /metrics, small files answered at once included.
    @Test func servedBytesAreCounted() async throws {
        let full = try await get()
        #expect(full.body.count == content.count)
        _ = try await get(["Range: bytes=0-99"])
        let metrics = try await daemon.curl("", path: "/metrics", method: "GET")
        let served = metricValue(metricSamples(metrics.body), "build_service_artifact_bytes_served_total")
        #expect(served == Double(content.count + 100), "\(metrics.body)")
    }

    @Test func validatorsAndConditionalRequests() async throws {
        let full = try await get()
        #expect(full.header("ETag") == etag)
        let lastModified = try #require(full.header("Last-Modified"))
        #expect(full.header("Cache-Control") == "private")
        #expect(full.header("X-Content-Type-Options") == "nosniff")
        #expect(full.header("Content-Disposition") == "attachment; filename=\"data.bin\"")
        #expect(try await get(["If-None-Match: \(etag)"]).status == 304)
        #expect(try await get(["If-None-Match: \"other\", \(etag)"]).status == 304)
        #expect(try await get(["If-None-Match: \"other\""]).status == 200)
        #expect(try await get(["If-Modified-Since: \(lastModified)"]).status == 304)
        // If-Range: the current strong ETag or the exact date honour the Range; anything else
        // gets the whole (changed) file.
        #expect(try await get(["Range: bytes=10-19", "If-Range: \(etag)"]).status == 206)
        #expect(try await get(["Range: bytes=10-19", "If-Range: \(lastModified)"]).status == 206)
        let stale = try await get(["Range: bytes=10-19", "If-Range: \"0000\""])
        #expect(stale.status == 200)
        #expect(sameBytes(stale.body, content), "\(stale.body.count) of \(content.count) bytes")
        #expect(try await get(["Range: bytes=10-19", "If-Range: W/\(etag)"]).status == 200)
        // Hostile dates are ignored, not fatal (the daemon keeps serving).
        for date in ["Sun, 99999999999 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 99999999999 08:49:37 GMT", "Sun, 06 Nov 1994 99:49:37 GMT"] {
            #expect(try await get(["If-Modified-Since: \(date)"]).status == 200)
            #expect(try await get(["Range: bytes=0-1", "If-Range: \(date)"]).status == 200)
        }
        // Dozens of ranges get the whole file instead of dozens of parts.
        let many = (0..<60).map { "\($0 * 10)-\($0 * 10 + 1)" }.joined(separator: ",")
        #expect(try await get(["Range: bytes=\(many)"]).status == 200)
        let head = try await get(method: "HEAD")
        #expect(head.status == 200)
        #expect(head.header("Content-Length") == "10000")
    }

    @Test func curlAndWgetResumeATruncatedDownload() async throws {
        let curlFile = daemon.directory + "/curl-resume.bin"
        try content.prefix(4321).write(to: URL(fileURLWithPath: curlFile))
        let curl = try await TestProcess.run("/usr/bin/curl", ["-sS", "-C", "-", "-o", curlFile, url], outputDirectory: daemon.directory)
        #expect(curl.status == 0, "\(curl.stderrText)")
        #expect(sameBytes(FileManager.default.contents(atPath: curlFile), content))

        let wgetFile = daemon.directory + "/wget-resume.bin"
        try content.prefix(777).write(to: URL(fileURLWithPath: wgetFile))
        let wget = try await TestProcess.run("/usr/bin/wget", ["-q", "-c", "-O", wgetFile, url], outputDirectory: daemon.directory)
        #expect(wget.status == 0, "\(wget.stderrText)")
        #expect(sameBytes(FileManager.default.contents(atPath: wgetFile), content))
    }

    @Test func pathTraversalAndOddPathsAre404() async throws {
        let base = url.components(separatedBy: "/artifacts/")[0] + "/artifacts/"
        let buildID = base.components(separatedBy: "/builds/")[1].dropLast("/artifacts/".count)
        let probes = [
            "../../../../etc/passwd", "out/../out/data.bin", "%2e%2e/%2e%2e/etc/passwd", "out%2Fdata.bin", "out%2fdata.bin",
            "out\\data.bin", "out%5Cdata.bin", "out/data.bin%00", "out/data.bin%00.txt", "/etc/passwd", "out//data.bin",
            "out/./data.bin", "out/missing.bin", "out", "%ZZ", "out/data.bin/",
        ]
        for probe in probes {
            let response = try await get(url: base + probe)
            #expect(response.status == 404, "\(probe)")
            #expect(String(decoding: response.body, as: UTF8.self).contains("no such artifact"), "\(probe)")
        }
        // Build ids must be ours: anything else is the same 404.
        for id in ["bld_0", "bld_" + String(repeating: "g", count: 32), "..", "BLD_" + buildID.dropFirst(4)] {
            let response = try await get(url: daemon.httpBase + "/v1/builds/\(id)/artifacts/out/data.bin")
            #expect(response.status == 404, "\(id)")
        }
        // A symlink planted in the store is not followed.
        let storeDirectory = daemon.storageRoot + "/" + buildID
        try FileManager.default.createSymbolicLink(atPath: storeDirectory + "/out/link.bin", withDestinationPath: "/etc/passwd")
        #expect(try await get(url: base + "out/link.bin").status == 404)
        // The same artifact under /artifacts/<id>/<path> (a public_base_url pointing here).
        let alias = try await get(url: daemon.httpBase + "/artifacts/\(buildID)/out/data.bin")
        #expect(alias.status == 200)
        #expect(sameBytes(alias.body, content), "\(alias.body.count) of \(content.count) bytes")
        #expect(try await get(method: "DELETE").status == 405)
    }
}
