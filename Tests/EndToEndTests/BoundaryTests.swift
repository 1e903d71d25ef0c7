import Foundation
import Testing

/// The boundary against a hostile client, end to end with the real make: each attack is first
/// shown to work on make itself (so the test means something), then sent to the daemon, which
/// must refuse it before anything runs; the legitimate request next to it still works.
@Suite(.serialized)
struct BoundaryTests {
    /// Attacks through make's own argument language; `MARKER` is replaced by a path outside
    /// the project that must never appear.
    static let makeCodeAttacks: [[String]] = [
        ["X:=$(shell touch MARKER)"],
        ["X::=$(shell touch MARKER)"],
        ["X!=touch MARKER"],
        ["$(shell touch MARKER)X=1"],
        ["compile", "CC=touch MARKER;"],
        ["where", "SHELL=/usr/bin/touch", ".SHELLFLAGS=MARKER"],
        ["--eval=$(shell touch MARKER)"],
        ["show", "V=$(shell touch MARKER)"],
        // A missing makefile is remade through a pattern rule, its name pasted in as $@.
        ["-f", "Makefile", "-f", "x;touch${IFS}MARKER;y.txt", "all"],
        // -I reaches every recipe that uses MAKEFLAGS, unquoted.
        ["-I", "x|touch${IFS}MARKER", "flags"],
        // So does --debug's value, though make reads only its first letter.
        ["--debug=n$(touch${IFS}MARKER)", "flags"],
        ["--de=a$(touch${IFS}MARKER)", "flags"],
        // A target through a symlink out of the project is written where it points.
        ["escMARKER"],
    ]

    private static func code(of response: (status: Int, body: String, headers: String)) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])?["code"] as? String
    }

    @Test func makeCodeInTheArgumentsRunsNothing() async throws {
        let daemon = try await DaemonUnderTest(DaemonUnderTest.Options(buildTables: "[build.make]\nallowed_variables = [\"V\"]"))
        try FileManager.default.createSymbolicLink(atPath: daemon.projectRoot + "/esc", withDestinationPath: "/")
        for (index, attack) in Self.makeCodeAttacks.enumerated() {
            let marker = "\(daemon.directory)/pwned-\(index).txt"
            let args = attack.map { $0.replacingOccurrences(of: "MARKER", with: marker) }
            // The real make runs it. SHELL is set because make runs a `$(shell)` met while it
            // reads its command line with the environment's SHELL (its default is not set yet),
            // and CI's environment has none.
            _ = try await TestProcess.run(
                "/usr/bin/make",
                ["-s"] + args,
                environment: ["PATH": "/usr/bin:/bin", "SHELL": "/bin/sh"],
                currentDirectory: daemon.projectRoot,
                outputDirectory: daemon.directory
            )
            #expect(FileManager.default.fileExists(atPath: marker), "make itself should run \(args)")
            try? FileManager.default.removeItem(atPath: marker)
            // The daemon refuses it.
            let response = try await daemon.curl(requestJSON(["command": "make", "args": args]))
            #expect(response.status == 400, "\(args): \(response.body)")
            #expect(["argument_not_allowed", "invalid_path"].contains(Self.code(of: response)), "\(args): \(response.body)")
            #expect(!FileManager.default.fileExists(atPath: marker), "\(args) ran through the daemon")
        }
        // An allowed variable with a plain value reaches the recipe.
        let allowed = try await daemon.cli(["--project", "demo", "make", "show", "V=1"])
        #expect(allowed.status == 0)
        #expect(allowed.stdoutText == "V=1\n", "\(allowed.stderrText)")
        await daemon.stop()
    }

    /// make puts every `-I` directory (absolute) and assignment in MAKEFLAGS, which every
    /// recipe gets in its environment, and the kernel refuses an environment string over 128
    /// KiB: a small request naming links to deep directories fails every recipe in make itself,
    /// so the daemon refuses it before it starts; repeats of one directory are passed once.
    @Test func makeflagsPastTheKernelsLimitAreRefusedAndRepeatsPassedOnce() async throws {
        let daemon = try await DaemonUnderTest()
        let segment = String(repeating: "d", count: 200)
        var canonical: [String] = []
        for index in 0..<60 {
            let deep = "long/\(index)/" + Array(repeating: segment, count: 14).joined(separator: "/")
            try FileManager.default.createDirectory(atPath: daemon.projectRoot + "/" + deep, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: daemon.projectRoot + "/l\(index)", withDestinationPath: deep)
            canonical.append(daemon.projectRoot + "/" + deep)
        }
        // make itself: every recipe fails.
        let real = try await TestProcess.run(
            "/usr/bin/make",
            ["-s"] + canonical.flatMap { ["-I", $0] } + ["flags"],
            environment: ["PATH": "/usr/bin:/bin"],
            currentDirectory: daemon.projectRoot,
            outputDirectory: daemon.directory
        )
        #expect(real.status != 0 && real.stderrText.contains("Argument list too long"), "\(real.stderrText)")
        // The daemon: refused before anything runs.
        let links = (0..<60).flatMap { ["-I", "l\($0)"] }
        let refused = try await daemon.curl(requestJSON(["command": "make", "args": links + ["flags"]]))
        #expect(refused.status == 413, "\(refused.body)")
        #expect(Self.code(of: refused) == "args_too_large", "\(refused.body)")
        #expect(refused.body.contains("MAKEFLAGS"), "\(refused.body)")
        // One directory named 700 times is passed once, and the build works.
        let repeated = try await daemon.curl(
            requestJSON(["command": "make", "args": Array(repeating: ["-I", "l0"], count: 700).flatMap { $0 } + ["flags"]])
        )
        let events = try parseEvents(repeated.body)
        #expect(events.last?["code"] as? Int == 0, "\(repeated.body.prefix(2000))")
        let output = events.compactMap { $0["data"] as? String }.joined()
        // Counted with the path: the test's temporary directory may itself hold "-I" (bs-e2e-I3F…).
        #expect(output.components(separatedBy: "-I" + daemon.projectRoot).count == 2, "\(output.prefix(500))")
        await daemon.stop()

        // An assignment's spaces are escaped there: 65,530 of them, within build.max_args_bytes,
        // take twice that in MAKEFLAGS.
        let spaces = try await DaemonUnderTest(
            DaemonUnderTest.Options(buildTables: "[build.make]\nallowed_variables = [\"V\"]\nallow_space_in_values = true")
        )
        let value = "V=x" + String(repeating: " ", count: 65_530) + "x"
        let escaped = try await TestProcess.run(
            "/usr/bin/make",
            ["-s", value, "flags"],
            environment: ["PATH": "/usr/bin:/bin"],
            currentDirectory: spaces.projectRoot,
            outputDirectory: spaces.directory
        )
        #expect(escaped.status != 0 && escaped.stderrText.contains("Argument list too long"), "\(escaped.stderrText)")
        let refusedValue = try await spaces.curl(requestJSON(["command": "make", "args": [value, "flags"]]))
        #expect(Self.code(of: refusedValue) == "args_too_large", "\(refusedValue.body.prefix(300))")
        await spaces.stop()
    }

    @Test func tildePathsAreRefusedWhereMakeWouldLeaveTheProject() async throws {
        let daemon = try await DaemonUnderTest()
        // make itself enters /usr/bin for -C ~bin.
        let real = try await TestProcess.run(
            "/usr/bin/make",
            ["-C", "~bin", "-n", "nothing"],
            currentDirectory: daemon.projectRoot,
            outputDirectory: daemon.directory
        )
        #expect(real.stdoutText.contains("/usr/bin") || real.stderrText.contains("/usr/bin"), "\(real.stdoutText) \(real.stderrText)")
        for args in [["-C", "~bin", "where"], ["--directory=~bin", "where"], ["-f", "~root/Makefile"], ["-I~", "all"], ["-W~/x", "all"]] {
            let response = try await daemon.curl(requestJSON(["command": "make", "args": args]))
            #expect(response.status == 400, "\(args)")
            #expect(Self.code(of: response) == "invalid_path", "\(args): \(response.body)")
        }
        await daemon.stop()
    }

    @Test func cwdCannotLeaveThroughASymlinkBehindAMissingComponent() async throws {
        let daemon = try await DaemonUnderTest()
        try FileManager.default.createSymbolicLink(atPath: daemon.projectRoot + "/esc", withDestinationPath: "/")
        try FileManager.default.createSymbolicLink(atPath: daemon.projectRoot + "/inside", withDestinationPath: "sub")
        for cwd in ["zz/../esc/tmp", "zz/../esc", "esc", "sub/../esc/usr"] {
            let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", "pwd"], "cwd": cwd]))
            #expect(response.status == 400, "\(cwd): \(response.body)")
            #expect(Self.code(of: response) == "invalid_path", "\(cwd): \(response.body)")
        }
        // A symlink that stays inside is fine: the build runs in the directory it names.
        let inside = try await daemon.cli(["--project", "demo", "--cwd", "inside", "sh", "-c", "pwd -P"])
        #expect(inside.stdoutText == "\(daemon.projectRoot)/sub\n", "\(inside.stderrText)")
        await daemon.stop()
    }

    @Test func aQueuedBuildIsCheckedAgainstTheTreeAsItIsWhenItStarts() async throws {
        var options = DaemonUnderTest.Options()
        options.demoMaxConcurrent = 1
        let daemon = try await DaemonUnderTest(options)
        let victim = daemon.projectRoot + "/victim"
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: false)
        try "where:\n\t@pwd\n".write(toFile: victim + "/Makefile", atomically: false, encoding: .utf8)
        // The first build holds the project and, while the second waits, swaps the directory
        // the second was validated against for a symlink out of the project.
        async let first = daemon.curl(requestJSON(["command": "sh", "args": ["-c", "sleep 1; rm -rf victim; ln -s /tmp victim"]]))
        try await Task.sleep(for: .milliseconds(300))
        let second = try await daemon.curl(requestJSON(["command": "make", "args": ["-C", "victim", "where"]]))
        #expect(try await first.status == 200)
        let events = try parseEvents(second.body)
        #expect(events.contains { $0["type"] as? String == "build" && $0["status"] as? String == "queued" }, "\(second.body)")
        #expect(events.contains { $0["type"] as? String == "error" && $0["code"] as? String == "invalid_path" }, "\(second.body)")
        #expect(events.last?["type"] as? String == "exit" && events.last?["code"] as? Int == 1, "\(second.body)")
        #expect(!second.body.contains("\"data\":\"/tmp"), "make ran in the swapped-in directory: \(second.body)")
        await daemon.stop()
    }

    @Test func buildLimitsApplyAndTheExitCarriesWhatTheBuildUsed() async throws {
        let daemon = try await DaemonUnderTest(
            DaemonUnderTest.Options(buildTables: "[build.limits]\nnofile = 64\ncpu_sec = 1\nfsize_bytes = 4096")
        )
        let limits = try await daemon.cli(["--project", "demo", "sh", "-c", "ulimit -n; ulimit -c; ulimit -t"])
        #expect(limits.stdoutText == "64\n0\n1\n", "\(limits.stderrText)")
        // Over its CPU limit the kernel stops a process with SIGXCPU: 128 + 24.
        let spinning = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", "while :; do :; done"]]))
        let exit = try #require(try parseEvents(spinning.body).last)
        #expect(exit["code"] as? Int == 128 + Int(SIGXCPU), "\(spinning.body)")
        let resources = try #require(exit["resources"] as? [String: Any], "\(spinning.body)")
        let cpu = (resources["cpu_user_sec"] as? Double ?? 0) + (resources["cpu_system_sec"] as? Double ?? 0)
        // The spinning shell used about its limit, a no-op build a few milliseconds.
        #expect(cpu > 0.5, "\(resources)")
        #expect((resources["max_rss_kib"] as? Int ?? 0) > 0, "\(resources)")
        // Writing past fsize_bytes: SIGXFSZ (128 + 25), nothing bigger than the limit left.
        let writer = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", "head -c 10000 /dev/zero > big.bin"]]))
        #expect(try parseEvents(writer.body).last?["code"] as? Int == 128 + Int(SIGXFSZ), "\(writer.body)")
        let written = try FileManager.default.attributesOfItem(atPath: daemon.projectRoot + "/big.bin")
        #expect(written[.size] as? Int == 4096, "the file grew to the limit and no further")
        await daemon.stop()
    }

    /// Over `nofile` an open fails with EMFILE; over `nproc` (the run-as user's processes) a
    /// fork fails with EAGAIN (sh: "Cannot fork"). The daemon serves on; a build within the limits still works.
    /// As `games`, a user no other test runs anything as: `nproc` counts all of the user's
    /// processes, and under the full suite other tests' builds as `nobody` once made the build
    /// within the limits fail to start.
    @Test(.enabled(if: getuid() == 0 && getpwnam("games") != nil, "nproc binds a run-as user, which needs a root daemon"))
    func overItsFileAndProcessLimitsABuildFailsAndTheNextRuns() async throws {
        var options = DaemonUnderTest.Options(buildTables: "[build.limits]\nnofile = 16\nnproc = 4")
        options.runAsUser = "games"
        let daemon = try await DaemonUnderTest(options)
        let files = try await daemon.curl(
            requestJSON(["command": "sh", "args": ["-c", "python3 -c 'import os; [os.open(\"/dev/null\", 0) for _ in range(20)]'"]])
        )
        #expect(files.body.contains("Too many open files"), "\(files.body)")
        #expect(try parseEvents(files.body).last?["code"] as? Int == 1)
        let forks = try await daemon.curl(
            requestJSON(["command": "sh", "args": ["-c", "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait"]])
        )
        #expect(forks.body.contains("Cannot fork"), "\(forks.body)")
        #expect(try parseEvents(forks.body).last?["code"] as? Int != 0)
        let fine = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", "echo within"]]))
        #expect(try parseEvents(fine.body).last?["code"] as? Int == 0, "\(fine.body)")
        await daemon.stop()
    }
}
