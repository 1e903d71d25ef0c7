import Foundation
import Testing

/// `build-cli --download DIR`: artifacts land in DIR with their relative paths, over the socket
/// and over HTTPS with auth; a partial file is resumed, and a corrupt one is caught.
@Suite struct CLIDownloadTests {
    static let script = "mkdir -p out/docs && head -c 300000 /dev/urandom > out/app.bin && echo doc > out/docs/a.txt"

    @Test func downloadsOverTheSocketKeepingRelativePaths() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin", "out/docs"]))
        let target = daemon.directory + "/downloads"
        let result = try await daemon.cli(["--project", "demo", "--download", target, "sh", "-c", Self.script])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(
            FileManager.default.contents(atPath: target + "/out/app.bin") == FileManager.default.contents(atPath: daemon.projectRoot + "/out/app.bin")
        )
        let unzip = try await TestProcess.run("/usr/bin/unzip", ["-t", target + "/out/docs.zip"], outputDirectory: daemon.directory)
        #expect(unzip.status == 0)
        // Not a terminal: no progress lines.
        #expect(!result.stderrText.contains("MiB"))
    }

    @Test func downloadsSignedURLsOverHTTPSAndResumesOrRejectsPartialFiles() async throws {
        let certificates = try await TestCertificates()
        var options = DaemonUnderTest.Options(tls: .init(certificates: certificates), artifacts: ["out/*.bin"])
        options.httpAuthTokens = ["dl-token-8c3f"]
        let daemon = try await DaemonUnderTest(options)
        let target = daemon.directory + "/downloads"
        let first = try await daemon.cli(
            ["--token", "dl-token-8c3f", "--project", "demo", "--download", target, "sh", "-c", Self.script],
            overHTTP: true
        )
        #expect(first.status == 0, "\(first.stderrText)")
        let built = try #require(FileManager.default.contents(atPath: daemon.projectRoot + "/out/app.bin"))
        #expect(FileManager.default.contents(atPath: target + "/out/app.bin") == built)

        // A different file under the final name is replaced, not resumed.
        let rebuild = ["--token", "dl-token-8c3f", "--project", "demo", "--download", target, "cat", "/dev/null"]
        try Data("an older build's app".utf8).write(to: URL(fileURLWithPath: target + "/out/app.bin"))
        let replaced = try await daemon.cli(rebuild, overHTTP: true)
        #expect(replaced.status == 0, "\(replaced.stderrText)")
        #expect(FileManager.default.contents(atPath: target + "/out/app.bin") == built)
        // A part file of this content whose bytes are right is completed with a Range request…
        let digest = try await TestProcess.run("/usr/bin/sha256sum", [], stdin: built, outputDirectory: daemon.directory)
        let part = target + "/out/.app.bin.\(digest.stdoutText.prefix(16)).part"
        try FileManager.default.removeItem(atPath: target + "/out/app.bin")
        try built.prefix(123_456).write(to: URL(fileURLWithPath: part))
        let resumed = try await daemon.cli(rebuild, overHTTP: true)
        #expect(resumed.status == 0, "\(resumed.stderrText)")
        #expect(FileManager.default.contents(atPath: target + "/out/app.bin") == built)
        #expect(!FileManager.default.fileExists(atPath: part))
        // …and one whose bytes are wrong is resumed too, then caught by the checksum and removed;
        // the final name never holds the bad file.
        try FileManager.default.removeItem(atPath: target + "/out/app.bin")
        var corrupt = built.prefix(123_456)
        corrupt[corrupt.startIndex] ^= 0xFF
        try corrupt.write(to: URL(fileURLWithPath: part))
        let caught = try await daemon.cli(rebuild, overHTTP: true)
        #expect(caught.status == 65)
        #expect(caught.stderrText.contains("checksum mismatch"), "\(caught.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: target + "/out/app.bin"))
        #expect(!FileManager.default.fileExists(atPath: part))
        // The next attempt downloads it whole.
        let again = try await daemon.cli(rebuild, overHTTP: true)
        #expect(again.status == 0, "\(again.stderrText)")
        #expect(FileManager.default.contents(atPath: target + "/out/app.bin") == built)
    }
}
