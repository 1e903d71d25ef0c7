import Foundation
import Testing

/// What systemd sees: a unit file it accepts, and the sd_notify states of a `Type=notify` service.
@Suite struct SystemdTests {
    /// `systemd-analyze verify` accepts the shipped unit (binary paths pointed at this build;
    /// its man pages are checked where the package installs them, in PackageTests).
    @Test func theUnitFileVerifies() async throws {
        let directory = try DaemonUnderTest.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let unitPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("systemd/build-service.service").path
        let unit = try String(contentsOfFile: unitPath, encoding: .utf8).replacingOccurrences(
            of: "/usr/bin/build-service",
            with: TestProcess.binary("build-service")
        )
        try unit.write(toFile: directory + "/build-service.service", atomically: false, encoding: .utf8)
        let result = try await TestProcess.run(
            "/usr/bin/systemd-analyze",
            ["verify", "--man=no", directory + "/build-service.service"],
            outputDirectory: directory
        )
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(!result.stderrText.contains("build-service.service"), "\(result.stderrText)")
        #expect(unit.contains("Type=notify"))
        #expect(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"))
    }

    /// The daemon says READY=1 once it listens, RELOADING=1 and READY=1 around a SIGHUP, and
    /// STOPPING=1 when asked to stop.
    @Test func notifiesReadyReloadingAndStopping() async throws {
        let directory = try DaemonUnderTest.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/notify.sock"
        // A stand-in for systemd: prints every datagram until STOPPING=1.
        let listener = try TestProcess.start(
            "/usr/bin/python3",
            [
                "-c",
                """
                import socket, sys
                s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                s.bind(sys.argv[1])
                print("bound", flush=True)
                while True:
                    message = s.recv(4096).decode()
                    print(message.replace("\\n", " "), flush=True)
                    if "STOPPING=1" in message:
                        break
                """,
                socket,
            ],
            outputDirectory: directory
        )
        #expect(await eventually { listener.stdoutSoFar.contains("bound") })
        let daemon = try await DaemonUnderTest(DaemonUnderTest.Options(environment: ["NOTIFY_SOCKET": socket]))
        #expect(await eventually { listener.stdoutSoFar.contains("READY=1") })
        daemon.signal(SIGHUP)
        #expect(await eventually { listener.stdoutSoFar.contains("RELOADING=1") })
        // The reload's READY=1 before the stop: one that ends after STOPPING=1 says nothing more.
        #expect(await eventually { listener.stdoutSoFar.components(separatedBy: "READY=1").count > 2 })
        #expect(await daemon.stop() == 0)
        let result = await listener.wait()
        let lines = result.stdoutText.split(separator: "\n").map(String.init)
        #expect(lines.first { $0.contains("READY=1") } != nil)
        #expect(lines.last?.contains("STOPPING=1") == true, "\(lines)")
        // RELOADING=1 is followed by READY=1 again.
        let reloading = try #require(lines.firstIndex { $0.contains("RELOADING=1") })
        #expect(lines[(reloading + 1)...].contains { $0.hasPrefix("READY=1") })
    }
}
