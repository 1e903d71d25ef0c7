import Foundation
import Testing

/// A request's `env`. `CFLAGS=-O0 make` in a container was silently built without CFLAGS: the
/// names a project lists in `pass_environment` now reach the build, and every other name,
/// a name that changes what runs, and a value holding make code are refused before anything runs.
@Suite struct EnvironmentForwardingTests {
    /// Prints what make sees: CFLAGS as a make variable (make imports the environment), OPT
    /// as the recipe's shell sees it.
    static let makefile = "show:\n\t@echo \"CFLAGS=[$(CFLAGS)] OPT=[$$OPT]\"\n"

    private func daemon() async throws -> DaemonUnderTest {
        var options = DaemonUnderTest.Options()
        options.demoExtra = #"pass_environment = ["CFLAGS", "OPT"]"#
        let daemon = try await DaemonUnderTest(options)
        try Self.makefile.write(toFile: daemon.projectRoot + "/Makefile", atomically: false, encoding: .utf8)
        return daemon
    }

    private static let wrapper = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/make-wrapper.sh").path

    @Test func listedVariablesReachMakeFromTheWrappersEnvironmentAndFromEnvOptions() async throws {
        let daemon = try await daemon()
        // The container's case: the wrapper as make, CFLAGS set before it, BUILD_SERVICE_ENV
        // naming what to forward (OPT is listed but unset: not sent).
        let wrapped = try await TestProcess.run(
            "/bin/sh",
            [Self.wrapper, "show"],
            environment: [
                "PATH": "/usr/bin:/bin", "BUILD_SERVICE_PROJECT": "demo", "BUILD_SERVICE_SOCKET": daemon.socketPath,
                "BUILD_CLI": TestProcess.binary("build-cli"), "BUILD_SERVICE_ENV": "CFLAGS OPT", "CFLAGS": "-O0",
            ],
            currentDirectory: daemon.projectRoot,
            outputDirectory: daemon.directory
        )
        #expect(wrapped.status == 0, "\(wrapped.stderrText)")
        #expect(wrapped.stdoutText == "CFLAGS=[-O0] OPT=[]\n", "\(wrapped.stdoutText)")

        // --env NAME=VALUE and --env NAME (this process's value), over HTTP.
        let given = try await daemon.cli(
            ["--project", "demo", "--env", "OPT=fast", "--env", "CFLAGS", "make", "show"],
            overHTTP: true,
            environment: ["CFLAGS": "-O2"]
        )
        #expect(given.status == 0, "\(given.stderrText)")
        #expect(given.stdoutText == "CFLAGS=[-O2] OPT=[fast]\n", "\(given.stdoutText)")
        #expect(daemon.log.contains("build.env=[CFLAGS,OPT]"), "the audit line names the variables")
        #expect(!daemon.log.contains("fast"), "and never their values")

        // The original's one-line framing carries it too.
        let legacy = try await daemon.legacy(
            #"{"project_id":"demo","command":"make","args":["show"],"cwd":"\#(daemon.projectRoot)","env":{"CFLAGS":"-g"}}"#
        )
        #expect(legacy.stdoutText.contains("CFLAGS=[-g] OPT=[]"), "\(legacy.stdoutText)")
        await daemon.stop()
    }

    @Test func aNameTheProjectDoesNotListIsRefusedByNameAndNothingRuns() async throws {
        let daemon = try await daemon()
        let refused = try await daemon.cli(["--project", "demo", "--env", "FOO=1", "make", "show"])
        #expect(refused.status == 65, "\(refused.stderrText)")
        #expect(refused.stderrText.contains("env_not_allowed"), "\(refused.stderrText)")
        #expect(refused.stderrText.contains(#""FOO""#) && refused.stderrText.contains("pass_environment"), "\(refused.stderrText)")
        #expect(refused.stdoutText.isEmpty)

        let unset = try await daemon.cli(["--project", "demo", "--env", "CFLAGS", "make", "show"])
        #expect(unset.status == 64, "--env NAME with NAME unset is a usage error: \(unset.stderrText)")
        #expect(unset.stderrText.contains("--env CFLAGS=VALUE"), "\(unset.stderrText)")

        let http = try await daemon.curl(requestJSON(["command": "make", "args": ["show"], "env": ["LD_PRELOAD": "/tmp/x.so"]]))
        #expect(http.status == 400)
        #expect(http.body.contains(#""code":"env_not_allowed""#) && http.body.contains("LD_PRELOAD"), "\(http.body)")
        await daemon.stop()
    }

    /// A listed variable replaces the daemon's own of that name (build.environment.allow has
    /// LANG): programs read the first of two, which would have been the daemon's.
    @Test func aRequestsVariableReplacesTheDaemonsOfTheSameName() async throws {
        var options = DaemonUnderTest.Options()
        options.demoExtra = #"pass_environment = ["LANG"]"#
        let daemon = try await DaemonUnderTest(options)
        let result = try await daemon.cli(["--project", "demo", "--env", "LANG=C", "sh", "-c", "env | grep ^LANG="])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText == "LANG=C\n", "\(result.stdoutText)")
        await daemon.stop()
    }

    /// make reads VPATH from the environment and looks for prerequisites there: the real make
    /// prints a file outside the project. Such names (every variable make reserves) cannot be
    /// listed (see aNameThatChangesWhatRunsCannotBeListed).
    @Test func vpathInTheEnvironmentLeadsMakeOutsideTheProject() async throws {
        let daemon = try await daemon()
        let outside = daemon.directory + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "outside the project\n".write(toFile: outside + "/data.txt", atomically: false, encoding: .utf8)
        try "show: data.txt\n\t@cat $<\n".write(toFile: daemon.projectRoot + "/Makefile", atomically: false, encoding: .utf8)
        let direct = try await TestProcess.run(
            "/usr/bin/make",
            ["-s", "show"],
            environment: ["PATH": "/usr/bin:/bin", "VPATH": outside],
            currentDirectory: daemon.projectRoot,
            outputDirectory: daemon.directory
        )
        #expect(direct.stdoutText == "outside the project\n", "\(direct.stdoutText)\(direct.stderrText)")
        let refused = try await daemon.cli(["--project", "demo", "--env", "VPATH=\(outside)", "make", "show"])
        #expect(refused.status == 65, "\(refused.stderrText)")
        #expect(refused.stderrText.contains("never passed to a build"), "\(refused.stderrText)")
        await daemon.stop()
    }

    /// make imports the environment as variables and expands them where a recipe uses one:
    /// the real make runs `$(shell …)` in CFLAGS. So such a value is refused, never passed.
    @Test(arguments: ["$(shell touch pwned)", "${shell touch pwned}", "`touch pwned`", "x;touch pwned"])
    func aValueMakeOrTheShellWouldRunIsRefused(value: String) async throws {
        let daemon = try await daemon()
        let direct = try await TestProcess.run(
            "/usr/bin/make",
            ["-s", "show"],
            environment: ["PATH": "/usr/bin:/bin", "CFLAGS": "$(shell touch direct)"],
            currentDirectory: daemon.projectRoot,
            outputDirectory: daemon.directory
        )
        #expect(direct.status == 0)
        #expect(FileManager.default.fileExists(atPath: daemon.projectRoot + "/direct"), "make runs code from the environment")

        let refused = try await daemon.cli(["--project", "demo", "--env", "CFLAGS=\(value)", "make", "show"])
        #expect(refused.status == 65, "\(refused.stderrText)")
        #expect(refused.stderrText.contains("env_not_allowed") && refused.stderrText.contains("CFLAGS"), "\(refused.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: daemon.projectRoot + "/pwned"))
        await daemon.stop()
    }

    @Test(arguments: [
        "LD_PRELOAD", "PATH", "MAKEFLAGS", "BASH_ENV", "SHELL", "GIT_SSH_COMMAND", "HOME", "VPATH", "MAKECMDGOALS", "1ABC", "A-B",
    ])
    func aNameThatChangesWhatRunsCannotBeListed(name: String) async throws {
        let daemon = try await daemon()
        await daemon.stop()
        let text = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
            .replacingOccurrences(of: #"pass_environment = ["CFLAGS", "OPT"]"#, with: #"pass_environment = ["CFLAGS", "\#(name)"]"#)
        let config = daemon.directory + "/listed.toml"
        try text.write(toFile: config, atomically: false, encoding: .utf8)
        let check = try await TestProcess.run(
            TestProcess.binary("build-service"),
            ["check-config", "--config", config],
            outputDirectory: daemon.directory
        )
        #expect(check.status == 1, "\(check.stdoutText)\(check.stderrText)")
        #expect(check.stderrText.contains("projects[0].pass_environment[1]"), "\(check.stderrText)")
        #expect(check.stderrText.contains(name), "\(check.stderrText)")
    }
}
