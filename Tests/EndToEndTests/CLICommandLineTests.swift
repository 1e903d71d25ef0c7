import Foundation
import Testing

/// build-cli's command line as people and agents type it: options end where the command begins,
/// a mistyped option is a usage error (never a command sent to the service), help and version
/// need no project, and every exit status of build-cli's own is a sysexits code, never make's
/// 1 or 2.
@Suite struct CLICommandLineTests {
    /// With BUILD_SERVICE_PROJECT set (the container case), `--tiemout` was sent as the command.
    @Test func aMistypedOptionIsAUsageErrorWithASuggestionAndNothingIsBuilt() async throws {
        let daemon = try await DaemonUnderTest()
        let typo = try await daemon.cli(["--tiemout", "60", "make", "all"], environment: ["BUILD_SERVICE_PROJECT": "demo"])
        #expect(typo.status == 64)
        #expect(typo.stderrText.contains("unknown option '--tiemout'"), "\(typo.stderrText)")
        #expect(typo.stderrText.contains("did you mean '--timeout'"), "\(typo.stderrText)")
        let farOff = try await daemon.cli(["--zzzzzz", "make"], environment: ["BUILD_SERVICE_PROJECT": "demo"])
        #expect(farOff.status == 64)
        #expect(!farOff.stderrText.contains("did you mean"), "\(farOff.stderrText)")
        let list = try await daemon.curl("", path: "/v1/builds", method: "GET")
        #expect(list.body.contains("\"builds\":[]"), "no build was started: \(list.body)")

        // After --, a word starting with '-' is the command (which the service then judges).
        let forced = try await daemon.cli(["--project", "demo", "--", "-weird"])
        #expect(forced.status == 65, "\(forced.stderrText)")
        #expect(forced.stderrText.contains("command_unknown"), "\(forced.stderrText)")
        let afterDashes = try await daemon.cli(["--project", "demo", "--", "make", "all"])
        #expect(afterDashes.status == 0, "\(afterDashes.stderrText)")
        await daemon.stop()
    }

    @Test func helpAndVersionNeedNoProjectAndNoService() async throws {
        let directory = try DaemonUnderTest.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func cli(_ arguments: [String]) async throws -> ProcessResult {
            try await TestProcess.run(TestProcess.binary("build-cli"), arguments, environment: ["PATH": "/usr/bin:/bin"], outputDirectory: directory)
        }
        let version = try await cli(["--version"])
        #expect(version.status == 0)
        #expect(version.stdoutText.hasPrefix("build-cli 0."), "\(version.stdoutText)")
        for arguments in [["help"], ["--help"], ["-h"]] {
            let help = try await cli(arguments)
            #expect(help.status == 0, "\(arguments): \(help.stderrText)")
            #expect(help.stdoutText.contains("status|attach|cancel|download|link BUILD_ID"), "\(arguments): \(help.stdoutText)")
        }
        for arguments in [["help", "status"], ["status", "--help"], ["--project", "x", "status", "-h"]] {
            let help = try await cli(arguments)
            #expect(help.status == 0, "\(arguments): \(help.stderrText)")
            #expect(help.stdoutText.contains("status BUILD_ID"), "\(arguments): \(help.stdoutText)")
        }
        let unknownVerb = try await cli(["help", "nonsense"])
        #expect(unknownVerb.status == 64)
        // Every option --help describes is one the "did you mean" list knows: a near miss of
        // each gets it suggested.
        let help = try await cli(["--help"])
        let described = Set(
            help.stdoutText.split(whereSeparator: { !"-abcdefghijklmnopqrstuvwxyz".contains($0) })
                .filter { $0.hasPrefix("--") && $0.count > 3 }.map(String.init)
        )
        #expect(described.count >= 15, "\(described)")
        for option in described {
            let nearMiss = String(option.dropLast())
            let result = try await cli(["--project", "x", nearMiss, "make"])
            #expect(result.stderrText.contains("did you mean '\(option)'"), "\(nearMiss): \(result.stderrText)")
        }
        #expect(!help.stdoutText.contains("(default 45). (default: 45)"))
    }

    /// Each of build-cli's own exit statuses, produced by a real situation.
    @Test func ownFailuresUseSysexitsCodes() async throws {
        var options = DaemonUnderTest.Options()
        options.extraProjects = """
            [[projects]]
            id = "gone"
            path_root = "/nonexistent/build-service-test-root"
            commands = ["make"]
            """
        let daemon = try await DaemonUnderTest(options)
        let usage = try await daemon.cli(["make"])
        #expect(usage.status == 64, "no project: \(usage.stderrText)")
        let refused = try await daemon.cli(["--project", "demo", "make", "-C", "/etc"])
        #expect(refused.status == 65, "\(refused.stderrText)")
        let setup = try await daemon.cli(["--project", "gone", "make"])
        #expect(setup.status == 78, "\(setup.stderrText)")
        #expect(setup.stderrText.contains("path_root_invalid"), "\(setup.stderrText)")
        let unreachable = try await TestProcess.run(
            TestProcess.binary("build-cli"),
            ["--socket", daemon.directory + "/no-such.sock", "--project", "demo", "make"],
            outputDirectory: daemon.directory
        )
        #expect(unreachable.status == 69, "\(unreachable.stderrText)")
        await daemon.stop()
    }

    /// `--token` shows in every user's `ps`; a token file does not.
    @Test func aTokenFileAuthenticatesAndOneOthersCanReadIsWarnedAbout() async throws {
        var options = DaemonUnderTest.Options()
        options.httpAuthTokens = ["file-secret-token-4f7c"]
        let daemon = try await DaemonUnderTest(options)
        let file = daemon.directory + "/token"
        try "file-secret-token-4f7c\n".write(toFile: file, atomically: false, encoding: .utf8)
        chmod(file, 0o600)
        let private_ = try await daemon.cli(["--token-file", file, "--project", "demo", "true"], overHTTP: true)
        #expect(private_.status == 0, "\(private_.stderrText)")
        #expect(!private_.stderrText.contains("warning"), "\(private_.stderrText)")
        let fromEnvironment = try await daemon.cli(["--project", "demo", "true"], overHTTP: true, environment: ["BUILD_SERVICE_TOKEN_FILE": file])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderrText)")

        chmod(file, 0o644)
        let readable = try await daemon.cli(["--token-file", file, "--project", "demo", "true"], overHTTP: true)
        #expect(readable.status == 0, "\(readable.stderrText)")
        #expect(readable.stderrText.contains("can be read by other users (mode 0644); chmod 600"), "\(readable.stderrText)")

        let wrong = daemon.directory + "/wrong-token"
        try "wrong-secret-7d1e".write(toFile: wrong, atomically: false, encoding: .utf8)
        chmod(wrong, 0o600)
        let refused = try await daemon.cli(["--token-file", wrong, "--project", "demo", "true"], overHTTP: true)
        #expect(refused.status == 77, "\(refused.stderrText)")
        #expect(!refused.stderrText.contains("wrong-secret-7d1e"))
        let missing = try await daemon.cli(["--token-file", daemon.directory + "/none", "--project", "demo", "true"], overHTTP: true)
        #expect(missing.status == 64, "\(missing.stderrText)")
        #expect(missing.stderrText.contains("No such file or directory"), "\(missing.stderrText)")
        await daemon.stop()
    }

    /// For agents: stdout is the service's NDJSON events, then one summary object.
    @Test func jsonModePassesTheEventsThroughAndEndsWithASummary() async throws {
        let daemon = try await DaemonUnderTest()
        let result = try await daemon.cli(["--json", "--project", "demo", "make", "all"])
        #expect(result.status == 0, "\(result.stderrText)")
        let objects = try result.stdoutText.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
        let types = objects.map { $0["type"] as? String ?? "?" }
        #expect(types.first == "build", "\(types)")
        #expect(types.contains("stdout") && types.contains("stderr"), "\(types)")
        #expect(Array(types.suffix(2)) == ["exit", "summary"], "\(types)")
        let summary = try #require(objects.last)
        #expect(summary["exit_code"] as? Int == 0)
        #expect(summary["build_id"] as? String == objects.first?["id"] as? String)
        // The build's own output is not printed raw beside the events.
        #expect(!result.stdoutText.split(separator: "\n").contains("done"))
        let failing = try await daemon.cli(["--json", "--project", "demo", "make", "fail"])
        #expect(failing.status == 2)
        #expect(failing.stdoutText.contains(#""exit_code":2"#), "\(failing.stdoutText)")
        await daemon.stop()
    }

    @Test func listShowsTheNewestBuildsAsATableOrJSON() async throws {
        let daemon = try await DaemonUnderTest()
        #expect(try await daemon.cli(["--project", "demo", "true"]).status == 0)
        let table = try await daemon.cli(["list"])
        #expect(table.status == 0, "\(table.stderrText)")
        let lines = table.stdoutText.split(separator: "\n")
        #expect(lines.first?.hasPrefix("ID") == true, "\(table.stdoutText)")
        #expect(lines.count == 2, "\(table.stdoutText)")
        #expect(lines.last?.contains("demo") == true && lines.last?.contains("finished") == true, "\(table.stdoutText)")
        let json = try await daemon.cli(["list", "--json"])
        let page = try #require(try JSONSerialization.jsonObject(with: Data(json.stdoutText.utf8)) as? [String: Any])
        #expect((page["builds"] as? [Any])?.count == 1)
        let running = try await daemon.cli(["--state", "running", "list"])
        #expect(running.stdoutText.split(separator: "\n").count == 1, "only the header: \(running.stdoutText)")
        let after = try await daemon.cli(["list", "--state=running"])
        #expect(after.status == 0 && after.stdoutText.split(separator: "\n").count == 1, "\(after.stdoutText)\(after.stderrText)")
        let bogus = try await daemon.cli(["list", "--bogus"])
        #expect(bogus.status == 64, "\(bogus.stderrText)")
        let help = try await daemon.cli(["help", "list"])
        #expect(help.stdoutText.contains("list [--project P]"), "\(help.stdoutText)")
        await daemon.stop()
    }

    /// Each failure with an obvious next step names it: the token option, the socket's group.
    @Test func failuresSayWhatToDoNext() async throws {
        var options = DaemonUnderTest.Options()
        options.httpAuthTokens = ["next-step-token"]
        options.socketMode = "0600"
        let daemon = try await DaemonUnderTest(options)
        let noToken = try await daemon.cli(["--project", "demo", "true"], overHTTP: true)
        #expect(noToken.status == 77)
        #expect(noToken.stderrText.contains("this service needs a token: --token-file FILE"), "\(noToken.stderrText)")
        let wrong = try await daemon.cli(["--token", "not-it", "--project", "demo", "true"], overHTTP: true)
        #expect(wrong.stderrText.contains("the token was not accepted"), "\(wrong.stderrText)")
        #expect(!wrong.stderrText.contains("not-it"), "the token is never echoed")

        // The socket is 0600 root:root; nobody is refused and told which group opens it.
        let stranger = try await TestProcess.run(
            "/usr/bin/setpriv",
            [
                "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", TestProcess.binary("build-cli"), "--socket", daemon.socketPath,
                "--project", "demo", "true",
            ],
            outputDirectory: daemon.directory
        )
        #expect(stranger.status == 69, "\(stranger.stderrText)")
        #expect(stranger.stderrText.contains("only members of group root may connect: sudo usermod -aG root"), "\(stranger.stderrText)")
        await daemon.stop()
    }
}
