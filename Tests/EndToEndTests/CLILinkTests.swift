import Foundation
import Testing

/// build-cli hands a person something to open: after the output, the build id, its page link and
/// its artifacts' links; `link ID` a fresh page link later. A daemon with `public_url` gives
/// builds requested over the Unix socket links that open in a browser.
@Suite struct CLILinkTests {
    static let token = "cli-link-token-81aa"
    static let publicURL = "https://builds.example.test:8443"

    private func daemon(publicURL: String? = Self.publicURL) async throws -> DaemonUnderTest {
        var options = DaemonUnderTest.Options(artifacts: ["out/*"])
        // An admin token: it sees the builds requested over the socket too.
        options.httpAuthTOML = "required = true\ntokens = [{ token = \"\(Self.token)\", admin = true }]"
        if let publicURL { options.httpExtra = "public_url = \"\(publicURL)/\"" }
        return try await DaemonUnderTest(options)
    }

    private static let script = "echo output; mkdir -p out; echo data > out/app.bin"

    @Test func afterTheOutputComeTheIdThePageAndTheArtifacts() async throws {
        let daemon = try await daemon()
        let result = try await daemon.cli(["--project", "demo", "sh", "-c", Self.script])
        #expect(result.status == 0)
        #expect(result.stdoutText == "output\n")
        let lines = result.stderrText.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(result.stderrText)")
        let page = try #require(
            lines.first.flatMap { $0.wholeMatch(of: #/build-cli: build (bld_[0-9a-f]{32}) page: (\S+)/#) }
        )
        let id = String(page.1)
        // Over the socket, the page link starts with public_url (the trailing slash dropped),
        // signed because the HTTP listener needs tokens.
        #expect(page.2.hasPrefix("\(Self.publicURL)/v1/builds/\(id)/page?expires="), "\(page.2)")
        #expect(lines.last?.hasPrefix("build-cli: artifact out/app.bin: /v1/builds/\(id)/artifacts/out/app.bin?expires=") == true, "\(lines)")
        // The link opens the page on the daemon without a token.
        let local = String(page.2).replacingOccurrences(of: Self.publicURL, with: daemon.httpBase)
        let opened = try await Download.fetch(local, in: daemon.directory)
        #expect(opened.status == 200 && String(decoding: opened.body, as: UTF8.self).contains(id))

        // --quiet: nothing of build-cli's own; --json: the links are in the summary instead.
        let quiet = try await daemon.cli(["--quiet", "--project", "demo", "sh", "-c", Self.script])
        #expect(quiet.stderrText == "")
        let json = try await daemon.cli(["--json", "--project", "demo", "sh", "-c", Self.script])
        #expect(json.stderrText == "")
        let summary = try #require((try? parseEvents(json.stdoutText))?.last, "\(json.stdoutText)")
        #expect((summary["page_url"] as? String)?.hasPrefix("\(Self.publicURL)/v1/builds/") == true, "\(summary)")

        // link ID: a link signed now; over HTTP with a token as well.
        let link = try await daemon.cli(["link", id])
        #expect(link.status == 0, "\(link.stderrText)")
        #expect(link.stdoutText.hasPrefix("\(Self.publicURL)/v1/builds/\(id)/page?expires=") && link.stdoutText.hasSuffix("\n"))
        let overHTTP = try await daemon.cli(["--token", Self.token, "link", id, "--json"], overHTTP: true)
        let document = try #require(
            (try? JSONSerialization.jsonObject(with: Data(overHTTP.stdoutText.utf8))) as? [String: String],
            "\(overHTTP.stdoutText) \(overHTTP.stderrText)"
        )
        #expect(document["build_id"] == id && document["page_url"]?.hasPrefix(Self.publicURL) == true, "\(overHTTP.stdoutText)")
        // status shows it too; an unknown build is exit 65.
        #expect((try await daemon.cli(["status", id])).stdoutText.contains("  page       \(Self.publicURL)/v1/builds/\(id)/page?"))
        let missing = try await daemon.cli(["link", "bld_" + String(repeating: "0", count: 32)])
        #expect(missing.status == 65, "\(missing.stderrText)")
    }

    @Test func withoutPublicURLALinkIsTheListenerAsTheClientAddressedIt() async throws {
        let daemon = try await daemon(publicURL: nil)
        let result = try await daemon.cli(["--token", Self.token, "--project", "demo", "sh", "-c", Self.script], overHTTP: true)
        #expect(result.stderrText.contains("page: \(daemon.httpBase)/v1/builds/bld_"), "\(result.stderrText)")
        #expect(result.stderrText.contains("artifact out/app.bin: \(daemon.httpBase)/v1/builds/bld_"))
    }

    @Test func aPublicURLWithAPathOrQueryIsRefusedAtStartup() async throws {
        let daemon = try await daemon(publicURL: nil)
        let config = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        for bad in ["builds.example.test", "https://host/builds", "https://host?x=1", "ftp://host", "https://"] {
            let changed = config.replacingOccurrences(of: "[service.http]\n", with: "[service.http]\npublic_url = \"\(bad)\"\n")
            let path = daemon.directory + "/bad.toml"
            try changed.write(toFile: path, atomically: false, encoding: .utf8)
            let check = try await TestProcess.run(
                TestProcess.binary("build-service"),
                ["check-config", "--config", path],
                outputDirectory: daemon.directory
            )
            #expect(check.status != 0, "\(bad)")
            #expect(check.stderrText.contains("service.http.public_url"), "\(bad): \(check.stderrText)")
        }
    }
}
