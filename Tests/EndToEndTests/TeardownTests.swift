import Foundation
import Testing

/// Nothing of a build outlives it: timeouts, vanished clients, leftovers and daemon shutdown.
@Suite(.serialized)
struct TeardownTests {
    @Test func timeoutTerminatesTheGroupIncludingAGrandchildThatTrapsSIGTERM() async throws {
        let daemon = try await DaemonUnderTest()
        let marker = uniqueMarker()
        let script = "sh -c 'trap \"\" TERM; sleep \(marker)' & sleep \(marker)"
        let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", script], "timeout_sec": 1]))
        let exit = try #require(try parseEvents(response.body).last)
        #expect(exit["type"] as? String == "exit")
        #expect(exit["code"] as? Int == 124)
        #expect(exit["timed_out"] as? Bool == true)
        // The trapping grandchild gets SIGKILL after the 5 s grace.
        #expect(await eventually(within: .seconds(10)) { processes(matching: "sleep \(marker)").isEmpty })
        await daemon.stop()
    }

    @Test func exitIsNotHeldUpByAGrandchildKeepingThePipesOpenAndTheGrandchildDies() async throws {
        let daemon = try await DaemonUnderTest()
        let marker = uniqueMarker()
        // The main process exits only once the grandchild ignores SIGTERM (else the group's
        // SIGTERM could beat its trap).
        let ready = "ready-\(marker)"
        let script = """
            sh -c 'trap "" TERM; touch \(ready); sleep \(marker)' &
            while [ ! -e \(ready) ]; do sleep 0.01; done; rm \(ready); echo main done; exit 3
            """
        let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", script]]))
        let events = try parseEvents(response.body)
        #expect(events.last?["code"] as? Int == 3)
        #expect(events.contains { $0["data"] as? String == "main done\n" })
        // The answer came while the grandchild (which ignores SIGTERM) was still alive: it
        // did not wait for the kill grace. Then the grandchild is killed all the same.
        #expect(!processes(matching: "sleep \(marker)").isEmpty)
        #expect(await eventually(within: .seconds(10)) { processes(matching: "sleep \(marker)").isEmpty })
        await daemon.stop()
    }

    @Test(arguments: [false, true])
    func clientDisconnectTerminatesTheBuild(overSocket: Bool) async throws {
        let daemon = try await DaemonUnderTest()
        let marker = uniqueMarker()
        var arguments = ["-sS", "-N", "--data-binary", requestJSON(["command": "sleep", "args": [marker]])]
        arguments += overSocket ? ["--unix-socket", daemon.socketPath, "http://localhost/v1/builds"] : [daemon.httpBase + "/v1/builds"]
        let client = try TestProcess.start("/usr/bin/curl", arguments, outputDirectory: daemon.directory)
        #expect(await eventually { !processes(matching: "sleep \(marker)").isEmpty })
        client.signal(SIGKILL)
        _ = await client.wait()
        #expect(await eventually(within: .seconds(3)) { processes(matching: "sleep \(marker)").isEmpty })
        #expect(await eventually(within: .seconds(30)) { daemon.log.contains("build.cancelled=true") })
        await daemon.stop()
    }

    @Test func clientThatStopsReadingIsDisconnectedAndItsBuildEnds() async throws {
        var options = DaemonUnderTest.Options()
        options.sendTimeoutSec = 1
        let daemon = try await DaemonUnderTest(options)
        let marker = uniqueMarker()
        try await expectDisconnectedAndEnded(daemon, marker: marker, buildArguments: ["-c", "yes \(marker)"])
    }

    /// The same with the smallest event buffer and output in blocks just under NIO's write
    /// buffer mark: a block the kernel did not take yet fills the buffer and the build waits for
    /// it, while the socket never looks full to us. The client is still timed out, so the build
    /// does not wait forever.
    @Test func clientThatStopsReadingIsDisconnectedEvenWhenItsLinesFitOurBuffers() async throws {
        var options = DaemonUnderTest.Options()
        options.sendTimeoutSec = 1
        options.lifecycle += "\nevent_buffer_bytes = 65536"
        let daemon = try await DaemonUnderTest(options)
        let marker = uniqueMarker()
        let producer = "import os, time\nwhile True:\n    os.write(1, b'x' * 60000)\n    time.sleep(0.02)"
        try await expectDisconnectedAndEnded(daemon, marker: marker, buildArguments: ["-c", "python3 -c \"$0\" \(marker)", producer])
    }

    /// Starts `sh buildArguments` (whose processes carry `marker`) from a client that sends the
    /// request and never reads (the body goes through stdin, so the marker is not in the
    /// client's command line): the socket buffers fill and our writes stall. Expects the build's
    /// processes gone and the build cancelled, then stops the daemon.
    private func expectDisconnectedAndEnded(_ daemon: DaemonUnderTest, marker: String, buildArguments: [String]) async throws {
        let body = requestJSON(["command": "sh", "args": buildArguments])
        let script = """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", \(daemon.port)))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            body = sys.stdin.buffer.read()
            s.sendall(b"POST /v1/builds HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body)
            time.sleep(60)
            """
        let client = try TestProcess.start("/usr/bin/python3", ["-c", script], stdin: Data(body.utf8), outputDirectory: daemon.directory)
        #expect(await eventually { !processes(matching: marker).isEmpty })
        #expect(await eventually(within: .seconds(15)) { processes(matching: marker).isEmpty })
        #expect(await eventually { daemon.log.contains("build.cancelled=true") })
        client.signal(SIGKILL)
        _ = await client.wait()
        await daemon.stop()
    }

    @Test func halfClosedLegacyClientStillGetsTheWholeBuild() async throws {
        let daemon = try await DaemonUnderTest()
        let result = try await daemon.legacy(requestJSON(["command": "sh", "args": ["-c", "sleep 1; echo finished"]]))
        let events = try parseEvents(result.stdoutText)
        #expect(events.contains { $0["data"] as? String == "finished\n" })
        #expect(events.last?["code"] as? Int == 0)
        await daemon.stop()
    }

    @Test func shutdownTearsDownRunningBuildsAndRemovesTheSocket() async throws {
        let daemon = try await DaemonUnderTest()
        let marker = uniqueMarker()
        let client = try TestProcess.start(
            "/usr/bin/curl",
            ["-sS", "-N", "--data-binary", requestJSON(["command": "sleep", "args": [marker]]), daemon.httpBase + "/v1/builds"],
            outputDirectory: daemon.directory
        )
        #expect(await eventually { !processes(matching: "sleep \(marker)").isEmpty })
        let status = await daemon.stop()
        #expect(status == 0)
        #expect(processes(matching: "sleep \(marker)").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath))
        client.signal(SIGKILL)
        _ = await client.wait()
    }
}
