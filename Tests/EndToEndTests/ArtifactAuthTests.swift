import Foundation
import Testing

/// With auth on, artifact URLs are signed so that a browser link works without a bearer
/// header; a valid token works too; anything else is refused. Over HTTPS, so the chunked TLS
/// path of the download is exercised.
@Suite struct ArtifactAuthTests {
    let certificates: TestCertificates
    let daemon: DaemonUnderTest
    let url: String
    let content: Data

    init() async throws {
        certificates = try await TestCertificates()
        var options = DaemonUnderTest.Options(tls: .init(certificates: certificates), artifacts: ["out/*.bin"], artifactSettings: "url_ttl_sec = 10")
        options.httpAuthTOML = """
            required = true
            tokens = ["admin-7d1e", { token = "scoped-5a2b", name = "other-only", projects = ["other"] }]
            """
        daemon = try await DaemonUnderTest(options)
        (url, content) = try await Self.buildArtifact(daemon)
    }

    /// Builds a 3 MiB (and a bit) artifact, several chunks through the TLS path; returns its
    /// signed link and its bytes.
    private static func buildArtifact(_ daemon: DaemonUnderTest) async throws -> (url: String, content: Data) {
        let script = "mkdir -p out && head -c 3146000 /dev/urandom > out/big.bin"
        let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", script]]), headers: ["Authorization: Bearer admin-7d1e"])
        let artifacts = try #require(try parseEvents(response.body).last?["artifacts"] as? [[String: Any]])
        let url = try #require(artifacts.first?["url"] as? String)
        return (url, try #require(FileManager.default.contents(atPath: daemon.projectRoot + "/out/big.bin")))
    }

    private func get(_ url: String, headers: [String] = []) async throws -> Download {
        try await Download.fetch(url, headers: headers, extra: ["--cacert", certificates.caPath], in: daemon.directory)
    }

    @Test func aSignedURLWorksWithoutATokenUntilItExpires() async throws {
        // A link of its own, fetched at once: the suite's was signed when the test began,
        // which on a loaded machine can be more than url_ttl_sec ago.
        let (url, content) = try await Self.buildArtifact(daemon)
        #expect(url.hasPrefix("https://localhost:\(daemon.port)/v1/builds/bld_"))
        #expect(url.contains("/artifacts/out/big.bin?expires="))
        #expect(url.contains("&sig="))
        let signed = try await get(url)
        #expect(signed.status == 200)
        #expect(sameBytes(signed.body, content), "\(signed.body.count) of \(content.count) bytes")
        // Past the link's own expiry.
        let expires = try #require(URLComponents(string: url)?.queryItems?.first { $0.name == "expires" }?.value.flatMap(Double.init))
        try await Task.sleep(for: .seconds(max(0, expires + 1 - Date().timeIntervalSince1970)))
        // Gone, not forbidden: 410 with what to do, as JSON for programs and as a page for
        // browsers; a token still works.
        let expired = try await get(url)
        #expect(expired.status == 410)
        let said = String(decoding: expired.body, as: UTF8.self)
        #expect(said.contains(#""code":"link_expired""#) && said.contains("expired at") && said.contains("ask for a fresh one"), "\(said)")
        let page = try await get(url, headers: ["Accept: text/html,application/xhtml+xml,*/*;q=0.8"])
        #expect(page.status == 410)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        #expect(page.header("Content-Security-Policy") == "default-src 'none'")
        #expect(page.header("Referrer-Policy") == "no-referrer")
        #expect(String(decoding: page.body, as: UTF8.self).contains("<h1>This link has expired</h1>"))
        #expect(try await get(url, headers: ["Authorization: Bearer admin-7d1e"]).status == 200)

        // Reading the build again hands out a link signed from that moment, which works.
        let id = try #require(url.range(of: #"bld_[0-9a-f]{32}"#, options: .regularExpression).map { String(url[$0]) })
        let status = try await get(
            "https://localhost:\(daemon.port)/v1/builds/\(id)",
            headers: ["Authorization: Bearer admin-7d1e"]
        )
        let document = try #require(try JSONSerialization.jsonObject(with: status.body) as? [String: Any])
        let fresh = try #require((document["artifacts"] as? [[String: Any]])?.first?["url"] as? String)
        #expect(fresh != url && fresh.hasPrefix(url.components(separatedBy: "?")[0] + "?expires="), "\(fresh)")
        #expect(try await get(fresh).status == 200)
        // So does re-attaching: the replayed exit event carries links signed now.
        let replay = try await get(
            "https://localhost:\(daemon.port)/v1/builds/\(id)/events?after=0",
            headers: ["Authorization: Bearer admin-7d1e"]
        )
        let exit = try #require(try parseEvents(String(decoding: replay.body, as: UTF8.self)).last)
        #expect(exit["type"] as? String == "exit")
        let replayed = try #require((exit["artifacts"] as? [[String: Any]])?.first?["url"] as? String)
        #expect(replayed != url, "\(replayed)")
        #expect(try await get(replayed).status == 200)
    }

    @Test func tamperedForeignOrMissingSignaturesAreRefused() async throws {
        let parts = url.components(separatedBy: "?")
        let (path, query) = (parts[0], parts[1])
        var tampered = query
        tampered.replaceSubrange(tampered.index(before: tampered.endIndex)..., with: tampered.hasSuffix("0") ? "1" : "0")
        #expect(try await get(path + "?" + tampered).status == 403)
        let page = try await get(path + "?" + tampered, headers: ["Accept: text/html"])
        #expect(page.status == 403 && String(decoding: page.body, as: UTF8.self).contains("This link is not valid"))
        let laterExpiry = query.replacingOccurrences(of: "expires=", with: "expires=9")
        #expect(try await get(path + "?" + laterExpiry).status == 403)
        // The same signature for another path of the same build.
        #expect(try await get(path.replacingOccurrences(of: "big.bin", with: "other.bin") + "?" + query).status == 403)
        // Neither signature nor token.
        let bare = try await get(path)
        #expect(bare.status == 401)
        #expect(bare.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        #expect(try await get(path, headers: ["Authorization: Bearer wrong"]).status == 401)
        // A token scoped to another project may not fetch this build's artifacts.
        let scoped = try await get(path, headers: ["Authorization: Bearer scoped-5a2b"])
        #expect(scoped.status == 403)
        #expect(String(decoding: scoped.body, as: UTF8.self).contains("forbidden_project"))
        let ranged = try await get(path, headers: ["Authorization: Bearer admin-7d1e", "Range: bytes=1048570-1048585"])
        #expect(ranged.status == 206)
        #expect(ranged.body == content[1_048_570...1_048_585])
    }

    @Test func aClientThatGoesAwayMidDownloadLeavesTheDaemonServing() async throws {
        // A slow client cut off after a second, part-way through the TLS chunk stream. With the
        // token, not the signature: the link may expire while the suite is busy.
        let token = "Authorization: Bearer admin-7d1e"
        let cut = try await TestProcess.run(
            "/usr/bin/curl",
            ["-sS", "--cacert", certificates.caPath, "-H", token, "--limit-rate", "200k", "--max-time", "1", "-o", "/dev/null", url],
            outputDirectory: daemon.directory
        )
        #expect(cut.status == 28, "\(cut.stderrText)")
        let whole = try await get(url, headers: [token])
        #expect(whole.status == 200)
        #expect(sameBytes(whole.body, content), "\(whole.body.count) of \(content.count) bytes")
    }
}
