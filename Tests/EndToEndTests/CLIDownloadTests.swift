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
        // Not a terminal: no progress line, but one line per artifact saying where it went.
        #expect(!result.stderrText.contains("\r"))
        #expect(result.stderrText.contains("build-cli: saved \(target)/out/app.bin (293.0 KiB, sha256 ok)\n"), "\(result.stderrText)")
        #expect(result.stderrText.contains("build-cli: saved \(target)/out/docs.zip ("), "\(result.stderrText)")
    }

    /// A finished build by id: its status for a person, and its artifacts fetched later.
    @Test func aFinishedBuildsStatusAndArtifactsById() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin"]))
        let built = try await daemon.cli(["--project", "demo", "--json", "sh", "-c", Self.script])
        let summary = try #require(built.stdoutText.split(separator: "\n").last)
        let id = try #require((try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any])?["build_id"] as? String)

        let status = try await daemon.cli(["status", id])
        #expect(status.status == 0, "\(status.stderrText)")
        #expect(status.stdoutText.hasPrefix("\(id)  finished: exit 0\n"), "\(status.stdoutText)")
        #expect(status.stdoutText.contains("  artifact   out/app.bin  293.0 KiB  sha256 "), "\(status.stdoutText)")
        #expect(status.stdoutText.range(of: #"  took       [0-9]+\.[0-9] s"#, options: .regularExpression) != nil, "\(status.stdoutText)")

        let target = daemon.directory + "/later"
        let fetched = try await daemon.cli(["download", id, target])
        #expect(fetched.status == 0, "\(fetched.stderrText)")
        #expect(fetched.stderrText == "build-cli: saved \(target)/out/app.bin (293.0 KiB, sha256 ok)\n", "\(fetched.stderrText)")
        #expect(
            FileManager.default.contents(atPath: target + "/out/app.bin") == FileManager.default.contents(atPath: daemon.projectRoot + "/out/app.bin")
        )
        let again = try await daemon.cli(["--download", target, "download", id])
        #expect(again.stderrText.contains("sha256 ok, already there)"), "\(again.stderrText)")
        await daemon.stop()
    }

    /// A download directory that cannot be one says which part is in the way, in the system's
    /// words (it was `NSCocoaErrorDomain error 512`).
    @Test func aDownloadPathThroughAFileOrAnUnwritableDirectoryIsNamed() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin"]))
        let blocker = daemon.directory + "/blocker"
        try Data("a file".utf8).write(to: URL(fileURLWithPath: blocker))
        let throughFile = try await daemon.cli(["--project", "demo", "--download", blocker + "/sub", "sh", "-c", Self.script])
        #expect(throughFile.status == 73, "\(throughFile.stderrText)")
        #expect(throughFile.stderrText.contains("\(blocker) is a file, not a directory"), "\(throughFile.stderrText)")
        #expect(!throughFile.stderrText.contains("NSCocoaErrorDomain"))

        // Read-only for everyone but root: run as nobody where the suite runs as root.
        guard geteuid() == 0 else { return }
        let closed = daemon.directory + "/closed"
        try FileManager.default.createDirectory(atPath: closed, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o555])
        let unwritable = try await TestProcess.run(
            "/usr/bin/setpriv",
            [
                "--reuid=nobody", "--regid=nogroup", "--clear-groups", TestProcess.binary("build-cli"), "--endpoint", daemon.httpBase,
                "--project", "demo", "--download", closed + "/d", "sh", "-c", Self.script,
            ],
            outputDirectory: daemon.directory
        )
        #expect(unwritable.status == 73, "\(unwritable.stderrText)")
        #expect(unwritable.stderrText.contains("cannot create the directory \(closed)/d: Permission denied"), "\(unwritable.stderrText)")
    }

    /// On a terminal the transfer shows a progress line (erased at the end) and the saved line.
    @Test func aTerminalSeesProgressThenTheSavedLine() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out/*.bin"]))
        let target = daemon.directory + "/downloads"
        let command = [
            TestProcess.binary("build-cli"), "--socket", daemon.socketPath, "--project", "demo", "--download", target,
            "sh", "-c", "mkdir -p out && head -c 67108864 /dev/zero > out/big.bin",
        ].map { "'\($0)'" }.joined(separator: " ")
        let terminal = try await TestProcess.run(
            "/usr/bin/script",
            ["-qefc", command, "/dev/null"],
            currentDirectory: daemon.projectRoot,
            outputDirectory: daemon.directory
        )
        #expect(terminal.status == 0, "\(terminal.stdoutText.suffix(500))")
        #expect(terminal.stdoutText.contains("\r  out/big.bin  "), "\(terminal.stdoutText.suffix(500))")
        #expect(terminal.stdoutText.contains("/64.0 MiB"), "\(terminal.stdoutText.suffix(500))")
        #expect(
            terminal.stdoutText.contains("\r\u{1B}[Kbuild-cli: saved \(target)/out/big.bin (64.0 MiB, sha256 ok)"),
            "\(terminal.stdoutText.suffix(500))"
        )
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

        // A different file under the final name is refused and left alone (curl and wget would
        // overwrite or rename), kept with --no-clobber, replaced with --force.
        let rebuild = ["--token", "dl-token-8c3f", "--project", "demo", "--download", target, "cat", "/dev/null"]
        let older = Data("an older build's app".utf8)
        try older.write(to: URL(fileURLWithPath: target + "/out/app.bin"))
        let refused = try await daemon.cli(rebuild, overHTTP: true)
        #expect(refused.status == 73, "\(refused.stderrText)")
        #expect(
            refused.stderrText.contains("out/app.bin exists and differs from the artifact; --force replaces it, --no-clobber keeps it"),
            "\(refused.stderrText)"
        )
        #expect(FileManager.default.contents(atPath: target + "/out/app.bin") == older)
        let kept = try await daemon.cli(["--no-clobber"] + rebuild, overHTTP: true)
        #expect(kept.status == 0, "\(kept.stderrText)")
        #expect(kept.stderrText.contains("kept \(target)/out/app.bin"), "\(kept.stderrText)")
        #expect(FileManager.default.contents(atPath: target + "/out/app.bin") == older)
        let replaced = try await daemon.cli(["--force"] + rebuild, overHTTP: true)
        #expect(replaced.status == 0, "\(replaced.stderrText)")
        #expect(FileManager.default.contents(atPath: target + "/out/app.bin") == built)
        // The start of the artifact under its name (an interrupted wget, say) is continued.
        try built.prefix(100_000).write(to: URL(fileURLWithPath: target + "/out/app.bin"))
        let continued = try await daemon.cli(rebuild, overHTTP: true)
        #expect(continued.status == 0, "\(continued.stderrText)")
        #expect(continued.stderrText.contains("sha256 ok, resumed at 97.7 KiB)"), "\(continued.stderrText)")
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
