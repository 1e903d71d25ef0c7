import Foundation
import Testing

/// Every error a person reads, from build-cli and from the daemon's start and check-config, in
/// the situations that produced Foundation's, NIO's or Swift's own words before: none of those
/// reach a user, and build-cli says each in one line.
@Suite struct ErrorMessageTests {
    /// What must never be shown: Foundation's domains and its catch-all sentence, NIO's call
    /// descriptions and errno tuples, Swift type and module names.
    static let leaks = [
        "NSCocoaErrorDomain", "Error Domain=", "could not be completed", "errno:", "(errno", "IOError", "ChannelError",
        "NIOConnectionError", "DecodingError", "POSIXError", "NSError", "Swift.", "Foundation.", "descriptor:", "NIOCore",
        "NIOPosix", "BuildServiceCore", "ServiceError(", "ConfigError(", "Optional(",
    ]

    private func expectClean(_ text: String, _ situation: String) {
        for leak in Self.leaks {
            #expect(!text.contains(leak), "\(situation): \"\(leak)\" in \(text)")
        }
    }

    /// build-cli's own failures: one line on stderr, starting `build-cli:`, in plain words.
    @Test func buildCLIFailuresAreOnePlainLine() async throws {
        let certificates = try await TestCertificates()
        let daemon = try await DaemonUnderTest(.init(tls: .init(certificates: certificates)))
        let directory = daemon.directory
        let file = directory + "/plain-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let situations: [(String, [String], Int32)] = [
            ("a socket that is not there", ["--socket", directory + "/none.sock", "--project", "demo", "true"], 69),
            ("a socket path that is a file", ["--socket", file, "--project", "demo", "true"], 69),
            ("a port nobody listens on", ["--endpoint", "http://127.0.0.1:1", "--project", "demo", "true"], 69),
            ("a missing CA file", ["--endpoint", daemon.httpBase, "--cacert", directory + "/none.pem", "--project", "demo", "true"], 64),
            ("a CA file that is not PEM", ["--endpoint", daemon.httpBase, "--cacert", file, "--project", "demo", "true"], 64),
            ("a missing token file", ["--socket", daemon.socketPath, "--token-file", directory + "/none", "--project", "demo", "true"], 64),
            ("a URL scheme build-cli does not speak", ["--endpoint", "ftp://127.0.0.1", "--project", "demo", "true"], 64),
            ("an unknown build", ["--socket", daemon.socketPath, "status", "bld_00000000000000000000000000000000"], 65),
        ]
        for (situation, arguments, status) in situations {
            let result = try await TestProcess.run(TestProcess.binary("build-cli"), arguments, outputDirectory: directory)
            expectClean(result.stderrText, situation)
            #expect(result.status == status, "\(situation): \(result.stderrText)")
            let lines = result.stderrText.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("build-cli: "), "\(situation): \(result.stderrText)")
        }
        await daemon.stop()
    }

    /// The daemon's refusals to start, as check-config and the start itself print them.
    @Test func theDaemonsStartupFailuresAreInPlainWords() async throws {
        let running = try await DaemonUnderTest()
        let text = try String(contentsOfFile: running.configPath, encoding: .utf8)
        let directory = running.directory
        // Each its own socket, so that only the fault named stops it.
        let broken: [(String, String)] = [
            ("a port in use", text.replacingOccurrences(of: "listen_addr = \"127.0.0.1:0\"", with: "listen_addr = \"127.0.0.1:\(running.port)\"")),
            ("invalid TOML", text + "\nthis = = not toml\n"),
            (
                "a missing certificate",
                text + "[service.http.tls]\nenabled = true\ncert_path = \"/nonexistent/c.pem\"\nkey_path = \"/nonexistent/k.pem\"\n"
            ),
            ("a missing tokens file", text + "[service.http.auth]\ntype = \"bearer\"\nrequired = true\ntokens_file = \"/nonexistent/tokens\"\n"),
            ("a socket beneath a file", text.replacingOccurrences(of: "bs.sock\"", with: "bs.sock/under-a-file.sock\"")),
        ].enumerated().map { index, entry in
            (entry.0, entry.1.replacingOccurrences(of: "path = \"\(running.socketPath)\"", with: "path = \"\(directory)/case-\(index).sock\""))
        }
        for (index, (situation, config)) in broken.enumerated() {
            let path = directory + "/broken-\(index).toml"
            try config.write(toFile: path, atomically: false, encoding: .utf8)
            let check = try await TestProcess.run(
                TestProcess.binary("build-service"),
                ["check-config", "--config", path],
                outputDirectory: directory
            )
            expectClean(check.stdoutText + check.stderrText, "\(situation), check-config")
            // A start that wrongly succeeded is stopped by the limit and fails the test.
            let start = try TestProcess.start(TestProcess.binary("build-service"), ["--config", path], outputDirectory: directory)
            let started = await start.wait(limit: .seconds(60))
            #expect(started.status != 0, "\(situation): \(started.stderrText)")
            expectClean(started.stdoutText + started.stderrText, "\(situation), start")
            let said = [
                "Address already in use; another process listens there", "invalid TOML at line",
                "/nonexistent/c.pem: cannot read (No such file or directory)", "cannot read /nonexistent/tokens: No such file or directory",
                "bs.sock: Not a directory",
            ][index]
            #expect(started.stderrText.contains(said), "\(situation): \(started.stderrText)")
        }
        await running.stop()
    }
}
