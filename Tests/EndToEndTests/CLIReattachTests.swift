import Foundation
import Testing

/// build-cli keeps a build across a dropped connection and cancels it on Ctrl-C.
@Suite(.serialized)
struct CLIReattachTests {
    /// A proxy cuts the first two connections mid-stream: build-cli re-attaches each time and
    /// the user sees every line exactly once, and the build's exit code.
    @Test func aDroppedConnectionIsResumedWithoutGapsOrRepeats() async throws {
        let script = "i=0; while [ $i -lt 120 ]; do echo line $i; i=$((i+1)); sleep 0.01; done; exit 3"
        let (result, proxyLog) = try await buildThroughProxy(mode: "cut", script: script)
        #expect(proxyLog.components(separatedBy: "cut").count == 3, "the proxy did not cut twice")
        #expect(result.status == 3, "\(result.stderrText)")
        #expect(result.stdoutText == (0..<120).map { "line \($0)\n" }.joined(), "\(result.stdoutText)")
    }

    /// A connection that goes silent without closing (a dead NAT entry) is given up after
    /// `--stall-timeout` and the build re-attached: the output is still complete.
    @Test func aStalledConnectionIsGivenUpAndResumed() async throws {
        let script = "i=0; while [ $i -lt 80 ]; do echo line $i; i=$((i+1)); sleep 0.05; done"
        let clock = ContinuousClock()
        let start = clock.now
        let (result, proxyLog) = try await buildThroughProxy(mode: "stall", script: script, cliOptions: ["--stall-timeout", "3"])
        #expect(proxyLog.contains("stall"), "the proxy never stalled the connection")
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText == (0..<80).map { "line \($0)\n" }.joined(), "\(result.stdoutText)")
        #expect(clock.now - start < .seconds(20))
    }

    /// Runs `script` with build-cli through `cuttingProxy` in `mode`, on a daemon that waits
    /// 30 s for a re-attach; returns build-cli's result and what the proxy printed.
    private func buildThroughProxy(
        mode: String,
        script: String,
        cliOptions: [String] = []
    ) async throws -> (ProcessResult, String) {
        var options = DaemonUnderTest.Options()
        options.lifecycle = "max_concurrent = 16\nreattach_grace_sec = 30"
        let daemon = try await DaemonUnderTest(options)
        let proxy = try TestProcess.start(
            "/usr/bin/python3",
            ["-c", Self.cuttingProxy, String(daemon.port), mode],
            outputDirectory: daemon.directory
        )
        #expect(await eventually { proxy.stdoutSoFar.contains("port ") })
        let proxyPort = try #require(
            proxy.stdoutSoFar.split(separator: " ").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        )
        let result = try await TestProcess.run(
            TestProcess.binary("build-cli"),
            ["--endpoint", "http://127.0.0.1:\(proxyPort)"] + cliOptions + ["--project", "demo", "sh", "-c", script],
            environment: ["PATH": "/usr/bin:/bin"],
            outputDirectory: daemon.directory
        )
        proxy.signal(SIGKILL)
        let proxyLog = proxy.stdoutSoFar
        await daemon.stop()
        return (result, proxyLog)
    }

    /// build-cli running `script` over the socket, in the background.
    private func startBuild(_ daemon: DaemonUnderTest, script: String) throws -> RunningProcess {
        try TestProcess.start(
            TestProcess.binary("build-cli"),
            ["--socket", daemon.socketPath, "--cwd", ".", "--project", "demo", "sh", "-c", script],
            environment: ["PATH": "/usr/bin:/bin"],
            outputDirectory: daemon.directory
        )
    }

    /// Ctrl-C cancels the remote build: build-cli exits 130 and the build's processes are gone.
    @Test func ctrlCCancelsTheRemoteBuild() async throws {
        let daemon = try await DaemonUnderTest()
        let marker = "31\(Int.random(in: 100...999))"
        let cli = try startBuild(daemon, script: "echo started; exec sleep \(marker)")
        #expect(await eventually { cli.stdoutSoFar.contains("started") })
        #expect(await eventually { !processes(matching: "sleep \(marker)").isEmpty })
        cli.signal(SIGINT)
        let result = await cli.wait()
        #expect(result.status == 130, "\(result.stderrText)")
        #expect(result.stderrText.contains("cancelling the build"))
        #expect(await eventually(within: .seconds(8)) { processes(matching: "sleep \(marker)").isEmpty })
        #expect(await eventually { daemon.log.contains("reason=requested") })
        await daemon.stop()
    }

    /// `build-cli status|attach|cancel ID` by id.
    @Test func statusAttachAndCancelById() async throws {
        let daemon = try await DaemonUnderTest()
        let marker = "32\(Int.random(in: 100...999))"
        let running = try startBuild(daemon, script: "echo first; exec sleep \(marker)")
        #expect(await eventually { running.stdoutSoFar.contains("first") })
        let list = try await daemon.curl("", path: "/v1/builds?state=running", method: "GET")
        let id = try #require(list.body.range(of: #"bld_[0-9a-f]{32}"#, options: .regularExpression).map { String(list.body[$0]) })

        let status = try await daemon.cli(["status", id])
        #expect(status.status == 0)
        #expect(status.stdoutText.hasPrefix("\(id)  running\n  project    demo\n  command    sh -c "), "\(status.stdoutText)")
        let document = try await daemon.cli(["status", id, "--json"])
        #expect(document.stdoutText.contains("\"state\" : \"running\""), "\(document.stdoutText)")
        let early = try await daemon.cli(["download", id, daemon.directory + "/early"])
        #expect(early.status == 75, "a running build has nothing to download yet: \(early.stderrText)")
        #expect(early.stderrText.contains("build-cli attach \(id)"), "\(early.stderrText)")
        let attach = try TestProcess.start(
            TestProcess.binary("build-cli"),
            ["--socket", daemon.socketPath, "attach", id],
            environment: ["PATH": "/usr/bin:/bin"],
            outputDirectory: daemon.directory
        )
        #expect(await eventually { attach.stdoutSoFar.contains("first") })
        let cancel = try await daemon.cli(["cancel", id])
        #expect(cancel.status == 0, "\(cancel.stderrText)")
        #expect((await attach.wait()).status == 130)
        #expect((await running.wait()).status == 130)
        let again = try await daemon.cli(["cancel", id])
        #expect(again.status == 65)
        #expect(again.stderrText.contains("build_finished"))
        let missing = try await daemon.cli(["status", "bld_" + String(repeating: "0", count: 32)])
        #expect(missing.status == 65)
        #expect(missing.stderrText.contains("build_not_found"))
        await daemon.stop()
    }

    /// Prints its port, then forwards every connection to the daemon; the first two are cut
    /// (both directions closed) after 1500 bytes from the daemon, or with mode "stall" left
    /// open but silent from then on.
    static let cuttingProxy = """
        import socket, sys, threading
        target, mode = int(sys.argv[1]), sys.argv[2]
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        print("port", server.getsockname()[1], flush=True)
        cuts = [2]
        def pump(source, sink, limit):
            sent = 0
            try:
                while True:
                    data = source.recv(512)
                    if not data:
                        break
                    if limit is not None and sent + len(data) > limit:
                        sink.sendall(data[: limit - sent])
                        print(mode, flush=True)
                        if mode == "stall":
                            # Silence without a close: the path died, as far as the client can tell.
                            threading.Event().wait()
                        break
                    sink.sendall(data)
                    sent += len(data)
            except OSError:
                pass
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
        while True:
            client, _ = server.accept()
            upstream = socket.create_connection(("127.0.0.1", target))
            limit = 1500 if cuts[0] > 0 else None
            cuts[0] -= 1
            threading.Thread(target=pump, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client, limit), daemon=True).start()
        """
}
