import Foundation
import Testing

/// build-cli and the make wrapper, as a user in a container runs them.
@Suite(.serialized)
struct CLITests {
    @Test func relaysStdoutAndStderrByteForByteAndExitsWithTheBuildsCode() async throws {
        let daemon = try await DaemonUnderTest()
        let result = try await daemon.cli(["--quiet", "--project", "demo", "make", "all"])
        #expect(result.status == 0)
        #expect(result.stdoutText == "building in \(daemon.projectRoot)\ndone\n")
        #expect(result.stderrText == "to stderr\n")
        let failing = try await daemon.cli(["-q", "--project", "demo", "sh", "-c", "echo out; echo err >&2; exit 7"])
        #expect(failing.status == 7)
        #expect(failing.stdoutText == "out\n")
        #expect(failing.stderrText == "err\n")
        await daemon.stop()
    }

    @Test(arguments: [false, true])
    func largeOutputArrivesIdentical(overHTTP: Bool) async throws {
        let daemon = try await DaemonUnderTest()
        let result = try await daemon.cli(["--project", "demo", "seq", "1", "300000"], overHTTP: overHTTP)
        let expected = (1...300_000).map(String.init).joined(separator: "\n") + "\n"
        #expect(result.status == 0)
        #expect(result.stdout == Data(expected.utf8))
        await daemon.stop()
    }

    /// Output that is all escapes and edge cases reaches build-cli as the build wrote it, read
    /// as UTF-8 (each invalid subpart one U+FFFD, as the protocol carries text): control bytes,
    /// quotes, backslashes, multi-byte characters split across the build's writes (dd writes
    /// 4,097 bytes at a time) and across the daemon's reads, which join while the client is busy.
    @Test(arguments: [false, true])
    func outputFullOfEscapesArrivesIdentical(overHTTP: Bool) async throws {
        let daemon = try await DaemonUnderTest()
        var pattern: [UInt8] = Array(0...0x7F)
        pattern += Array("\"\\ é 😀 €\u{2028}".utf8)
        pattern += [0xFF, 0xC3, 0x28, 0xE2, 0x82, UInt8(ascii: "x"), 0x80, 0xF0, 0x9F, 0x98]  // invalid, truncated
        pattern += Array("\n".utf8)
        var payload: [UInt8] = []
        for index in 0..<6000 { payload += pattern.dropFirst(index % 7) }
        let file = daemon.projectRoot + "/payload.bin"
        #expect(FileManager.default.createFile(atPath: file, contents: Data(payload)))
        let result = try await daemon.cli(
            ["--quiet", "--project", "demo", "sh", "-c", "dd if=payload.bin bs=4097 2>/dev/null; dd if=payload.bin bs=65536 >&2 2>/dev/null"],
            overHTTP: overHTTP
        )
        let expected = Data(String(decoding: payload, as: UTF8.self).utf8)
        #expect(result.status == 0)
        #expect(sameBytes(result.stdout, expected), "stdout: \(result.stdout.count) bytes, expected \(expected.count)")
        #expect(sameBytes(result.stderr, expected), "stderr: \(result.stderr.count) bytes, expected \(expected.count)")
        await daemon.stop()
    }

    @Test func helpIsShownBeforeAnyCommand() async throws {
        let daemon = try await DaemonUnderTest()
        for flag in ["--help", "-h"] {
            let result = try await TestProcess.run(TestProcess.binary("build-cli"), [flag], outputDirectory: daemon.directory)
            #expect(result.status == 0)
            #expect(result.stdoutText.contains("USAGE: build-cli"))
            #expect(result.stdoutText.contains("--endpoint"))
        }
        // After the command, --help belongs to the command.
        let passed = try await daemon.cli(["--project", "demo", "sh", "-c", "echo \"$1\"", "sh", "--help"])
        #expect(passed.stdoutText == "--help\n")
        await daemon.stop()
    }

    @Test func argumentsStartingWithADashArePassedThrough() async throws {
        let daemon = try await DaemonUnderTest()
        let result = try await daemon.cli(["--project", "demo", "sh", "-c", "echo \"$@\"", "sh", "-j4", "--timeout", "x"])
        #expect(result.stdoutText == "-j4 --timeout x\n")
        await daemon.stop()
    }

    @Test func sendsTheCurrentDirectoryAsCwdOverTheSocket() async throws {
        let daemon = try await DaemonUnderTest()
        let result = try await daemon.cli(["--project", "demo", "make", "here"], currentDirectory: daemon.projectRoot + "/sub")
        #expect(result.stdoutText == "sub-makefile \(daemon.projectRoot)/sub\n")
        await daemon.stop()
    }

    @Test func timeoutExitsWith124() async throws {
        let daemon = try await DaemonUnderTest()
        let result = try await daemon.cli(["--project", "demo", "--timeout", "1", "sleep", "30"])
        #expect(result.status == 124)
        await daemon.stop()
    }

    @Test func serviceRefusalIsPrintedWithItsCode() async throws {
        let daemon = try await DaemonUnderTest()
        let escape = try await daemon.cli(["--project", "demo", "make", "-C", "/etc"])
        #expect(escape.status == 65)  // EX_DATAERR: never 1 or 2, which make uses
        #expect(escape.stderrText.contains("invalid_path"))
        #expect(escape.stderrText.contains("/etc"))
        let unknown = try await daemon.cli(["--project", "nope", "make"], overHTTP: true)
        #expect(unknown.status == 65)
        #expect(unknown.stderrText.contains("project_not_found"))
        await daemon.stop()
    }

    @Test func unreachableServiceIsNamed() async throws {
        let daemon = try await DaemonUnderTest()
        let missing = daemon.directory + "/missing.sock"
        let result = try await TestProcess.run(
            TestProcess.binary("build-cli"),
            ["--socket", missing, "--project", "demo", "make"],
            outputDirectory: daemon.directory
        )
        #expect(result.status == 69)
        #expect(result.stderrText.contains(missing))
        await daemon.stop()
        let refused = try await TestProcess.run(
            TestProcess.binary("build-cli"),
            ["--endpoint", daemon.httpBase, "--project", "demo", "make"],
            outputDirectory: daemon.directory
        )
        #expect(refused.status == 69)
        #expect(refused.stderrText.contains(daemon.httpBase))
    }

    @Test func environmentVariablesSelectProjectAndSocket() async throws {
        let daemon = try await DaemonUnderTest()
        let result = try await TestProcess.run(
            TestProcess.binary("build-cli"),
            ["make", "all"],
            environment: ["BUILD_SERVICE_PROJECT": "demo", "BUILD_SERVICE_SOCKET": daemon.socketPath],
            currentDirectory: daemon.projectRoot,
            outputDirectory: daemon.directory
        )
        #expect(result.status == 0)
        #expect(result.stdoutText.hasSuffix("done\n"))
        let noProject = try await TestProcess.run(
            TestProcess.binary("build-cli"),
            ["make"],
            environment: ["BUILD_SERVICE_SOCKET": daemon.socketPath],
            outputDirectory: daemon.directory
        )
        #expect(noProject.status == 64)
        #expect(noProject.stderrText.contains("BUILD_SERVICE_PROJECT"))
        await daemon.stop()
    }

    @Test func makeWrapperRunsMakeOnTheHostFromASubdirectory() async throws {
        let daemon = try await DaemonUnderTest()
        let wrapper = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/make-wrapper.sh").path
        let environment = [
            "PATH": "/usr/bin:/bin", "BUILD_SERVICE_PROJECT": "demo", "BUILD_SERVICE_SOCKET": daemon.socketPath,
            "BUILD_CLI": TestProcess.binary("build-cli"),
        ]
        let result = try await TestProcess.run(
            "/bin/sh",
            [wrapper, "here"],
            environment: environment,
            currentDirectory: daemon.projectRoot + "/sub",
            outputDirectory: daemon.directory
        )
        #expect(result.status == 0)
        #expect(result.stdoutText == "sub-makefile \(daemon.projectRoot)/sub\n")
        let failing = try await TestProcess.run(
            "/bin/sh",
            [wrapper, "fail"],
            environment: environment,
            currentDirectory: daemon.projectRoot,
            outputDirectory: daemon.directory
        )
        #expect(failing.status == 2)  // make's own status for a failed target
        var unset = environment
        unset["BUILD_SERVICE_PROJECT"] = nil
        let noProject = try await TestProcess.run("/bin/sh", [wrapper], environment: unset, outputDirectory: daemon.directory)
        #expect(noProject.status == 64)
        #expect(noProject.stderrText.contains("BUILD_SERVICE_PROJECT is not set"))
        await daemon.stop()
    }
}
