import Foundation
import Testing

/// The NDJSON event stream as an HTTP client (curl) sees it.
@Suite(.serialized)
struct EventStreamTests {
    @Test func streamsBuildStartedThenOutputThenExactlyOneExit() async throws {
        let daemon = try await DaemonUnderTest()
        let response = try await daemon.curl(requestJSON(["command": "make", "args": ["all"]]))
        #expect(response.status == 200)
        #expect(response.headers.lowercased().contains("content-type: application/x-ndjson"))
        let events = try parseEvents(response.body)
        #expect(events.first?["type"] as? String == "build")
        #expect(events.first?["status"] as? String == "started")
        #expect((events.first?["id"] as? String)?.hasPrefix("bld_") == true)
        #expect(events.last?["type"] as? String == "exit")
        #expect(events.filter { $0["type"] as? String == "exit" }.count == 1)
        let stdout = events.filter { $0["type"] as? String == "stdout" }.compactMap { $0["data"] as? String }.joined()
        let stderr = events.filter { $0["type"] as? String == "stderr" }.compactMap { $0["data"] as? String }.joined()
        #expect(stdout == "building in \(daemon.projectRoot)\ndone\n")
        #expect(stderr == "to stderr\n")
        #expect(events.last?["code"] as? Int == 0)
        #expect(events.last?["timed_out"] as? Bool == false)
        await daemon.stop()
    }

    @Test func eventsArriveWhileTheBuildIsStillRunning() async throws {
        let daemon = try await DaemonUnderTest()
        let marker = uniqueMarker()
        let body = requestJSON(["command": "sh", "args": ["-c", "echo first; sleep \(marker); echo second"], "timeout_sec": 2])
        let client = try TestProcess.start(
            "/usr/bin/curl",
            ["-sS", "-N", "--data-binary", body, daemon.httpBase + "/v1/builds"],
            outputDirectory: daemon.directory
        )
        // "first" reaches the client while the build still sleeps: nothing waits for the end.
        #expect(await eventually { client.stdoutSoFar.contains(#""data":"first\n""#) })
        #expect(!processes(matching: "sleep \(marker)").isEmpty)
        #expect(!client.stdoutSoFar.contains("exit"))
        let events = try parseEvents(await client.wait().stdoutText)
        #expect(events.last?["timed_out"] as? Bool == true)
        await daemon.stop()
    }

    @Test func twoBuildsOnOneKeepAliveConnectionBothStreamInFull() async throws {
        let daemon = try await DaemonUnderTest()
        let url = daemon.httpBase + "/v1/builds"
        // The first build leaves a grandchild that ignores SIGTERM: its teardown takes the 5 s
        // kill grace, which must not hold up the next request on the connection.
        let first = #"sh -c 'trap "" TERM; sleep 30' & echo one"#
        let result = try await TestProcess.run(
            "/usr/bin/curl",
            [
                "-sS", "-N", "-v", "--max-time", "4", "--data-binary", requestJSON(["command": "sh", "args": ["-c", first]]), url,
                "--next", "-sS", "-N", "--max-time", "4", "--data-binary", requestJSON(["command": "sh", "args": ["-c", "echo two; exit 3"]]),
                url,
            ],
            outputDirectory: daemon.directory
        )
        let events = try parseEvents(result.stdoutText)
        let exits = events.filter { $0["type"] as? String == "exit" }.compactMap { $0["code"] as? Int }
        #expect(exits == [0, 3])
        #expect(events.compactMap { $0["data"] as? String } == ["one\n", "two\n"])
        #expect(result.stderrText.contains("Re-using existing connection"))
        await daemon.stop()
    }

    @Test func pipelinedRequestsThenHalfCloseStillGetTheFirstAnswerWhole() async throws {
        let daemon = try await DaemonUnderTest()
        // A raw client: two pipelined requests, then shutdown(SHUT_WR), then read to the end.
        let body = requestJSON(["command": "sh", "args": ["-c", "echo first"]])
        let request = "POST /v1/builds HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: \(body.utf8.count)\\r\\n\\r\\n"
        func exchange(_ connect: String) -> String {
            """
            import socket, sys
            s = \(connect)
            one = b"\(request)" + sys.argv[1].encode()
            s.sendall(one + one)
            s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            sys.stdout.write(data.decode())
            """
        }
        // TCP: end-of-input is a disconnect, but the first answer, already complete, arrives whole.
        let tcp = try await TestProcess.run(
            "/usr/bin/python3",
            ["-c", exchange(#"socket.create_connection(("127.0.0.1", \#(daemon.port)))"#), body],
            outputDirectory: daemon.directory
        )
        #expect(tcp.status == 0, "\(tcp.stderrText)")
        #expect(tcp.stdoutText.contains(#"{"type":"stdout","data":"first\n","seq":2}"#), "\(tcp.stdoutText)")
        #expect(tcp.stdoutText.contains(#"{"type":"exit","code":0"#), "\(tcp.stdoutText)")
        #expect(tcp.stdoutText.contains("\r\n0\r\n\r\n"))  // the chunked stream was ended
        // Unix socket: a half-close is not a disconnect, so both pipelined requests are answered.
        let connectUnix = "socket.socket(socket.AF_UNIX); s.connect(\"\(daemon.socketPath)\")"
        let unix = try await TestProcess.run(
            "/usr/bin/python3",
            ["-c", exchange(connectUnix), body],
            outputDirectory: daemon.directory
        )
        #expect(unix.status == 0, "\(unix.stderrText)")
        #expect(unix.stdoutText.components(separatedBy: #"{"type":"exit","code":0"#).count == 3, "\(unix.stdoutText)")
        await daemon.stop()
    }

    @Test func http10ClientGetsTheStreamEndedByTheConnection() async throws {
        let daemon = try await DaemonUnderTest()
        let result = try await TestProcess.run(
            "/usr/bin/curl",
            [
                "-sS", "-N", "-0", "-i", "--max-time", "10", "--data-binary", requestJSON(["command": "sh", "args": ["-c", "echo old"]]),
                daemon.httpBase + "/v1/builds",
            ],
            outputDirectory: daemon.directory
        )
        #expect(result.status == 0)
        let text = result.stdoutText
        #expect(!text.lowercased().contains("transfer-encoding: chunked"))
        let body = try #require(text.components(separatedBy: "\r\n\r\n").last)
        let events = try parseEvents(body)
        #expect(events.compactMap { $0["data"] as? String } == ["old\n"])
        #expect(events.last?["type"] as? String == "exit")
        await daemon.stop()
    }

    @Test(arguments: [
        ("exit 0", 0), ("exit 7", 7), ("kill -TERM $$", 143), ("kill -KILL $$", 137), ("kill -SEGV $$", 139),
    ])
    func exitCodeIsTheProcessCodeOr128PlusSignal(script: String, expected: Int) async throws {
        let daemon = try await DaemonUnderTest()
        let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", script]]))
        let exit = try #require(try parseEvents(response.body).last)
        #expect(exit["type"] as? String == "exit")
        #expect(exit["code"] as? Int == expected)
        await daemon.stop()
    }

    @Test func multiByteCharacterSplitAcrossWritesArrivesWhole() async throws {
        let daemon = try await DaemonUnderTest()
        // "é" is C3 A9; the two bytes reach the pipe 300 ms apart, so they are read separately.
        let script = #"printf '\303'; sleep 0.3; printf '\251 \377\n'"#
        let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", script]]))
        let events = try parseEvents(response.body)
        let stdout = events.filter { $0["type"] as? String == "stdout" }.compactMap { $0["data"] as? String }
        #expect(stdout.joined() == "é \u{FFFD}\n")
        // A split character would show up as a replacement character at the start of an event.
        #expect(!stdout.contains { $0.first == "\u{FFFD}" })
        await daemon.stop()
    }

    @Test func environmentHoldsOnlyAllowedNamesAndTheUsersFacts() async throws {
        let daemon = try await DaemonUnderTest()
        let response = try await daemon.curl(requestJSON(["command": "env"]))
        let output = try parseEvents(response.body).filter { $0["type"] as? String == "stdout" }
            .compactMap { $0["data"] as? String }.joined()
        let names = Set(output.split(separator: "\n").map { String($0.prefix { $0 != "=" }) })
        #expect(names == ["PATH", "LANG", "HOME", "USER", "LOGNAME"])
        #expect(!output.contains("secret"))
        #expect(output.contains("PATH=/usr/local/bin:/usr/bin:/bin\n"))
        await daemon.stop()
    }

    @Test(.enabled(if: getuid() == 0, "switching users needs root"))
    func runAsUserGetsThatUsersIdsAndHome() async throws {
        var options = DaemonUnderTest.Options()
        options.runAsUser = "nobody"
        let daemon = try await DaemonUnderTest(options)
        let script = #"echo "$(id -u) $(id -g) $HOME $USER"; touch /root/.build-service-probe 2>/dev/null && echo wrote"#
        let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", script]]))
        let output = try parseEvents(response.body).filter { $0["type"] as? String == "stdout" }
            .compactMap { $0["data"] as? String }.joined()
        let nobody = try #require(getpwnam("nobody"))
        #expect(output == "\(nobody.pointee.pw_uid) \(nobody.pointee.pw_gid) \(String(cString: nobody.pointee.pw_dir)) nobody\n")
        #expect(!FileManager.default.fileExists(atPath: "/root/.build-service-probe"))
        await daemon.stop()
    }

    @Test func stdinIsDevNullAndTheBuildLeadsItsOwnSession() async throws {
        let daemon = try await DaemonUnderTest()
        let script = #"cat; echo "cat=$?"; echo "pid=$$ pgid=$(ps -o pgid= -p $$ | tr -d ' ') sid=$(ps -o sid= -p $$ | tr -d ' ')""#
        let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", script]]))
        let output = try parseEvents(response.body).filter { $0["type"] as? String == "stdout" }
            .compactMap { $0["data"] as? String }.joined()
        #expect(output.hasPrefix("cat=0\n"))
        let fields = Dictionary(
            uniqueKeysWithValues: output.split(separator: "\n")[1].split(separator: " ").map {
                let pair = $0.split(separator: "=")
                return (String(pair[0]), String(pair[1]))
            }
        )
        #expect(fields["pid"] == fields["pgid"])
        #expect(fields["pid"] == fields["sid"])
        await daemon.stop()
    }

    @Test func controlCharactersInOutputStayInsideOneJSONLine() async throws {
        let daemon = try await DaemonUnderTest()
        let script = #"printf 'a\tb\rc"d\\e\001\033[31m\n'"#
        let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", script]]))
        let lines = response.body.split(separator: "\n")
        let events = try parseEvents(response.body)
        #expect(lines.count == events.count)
        let stdout = events.filter { $0["type"] as? String == "stdout" }.compactMap { $0["data"] as? String }.joined()
        #expect(stdout == "a\tb\rc\"d\\e\u{1}\u{1B}[31m\n")
        await daemon.stop()
    }

    @Test func cwdSelectsADirectoryInsideTheProject() async throws {
        let daemon = try await DaemonUnderTest()
        for cwd in ["sub/deeper/..", daemon.projectRoot + "/sub"] {
            let response = try await daemon.curl(requestJSON(["command": "make", "args": ["here"], "cwd": cwd]))
            let stdout = try parseEvents(response.body).filter { $0["type"] as? String == "stdout" }
                .compactMap { $0["data"] as? String }.joined()
            #expect(stdout == "sub-makefile \(daemon.projectRoot)/sub\n", "cwd \(cwd)")
        }
        let makeC = try await daemon.curl(requestJSON(["command": "make", "args": ["-C", "sub", "here"]]))
        #expect(makeC.body.contains("sub-makefile \(daemon.projectRoot)/sub"))
        await daemon.stop()
    }
}

/// The audit trail an operator reads.
@Suite(.serialized)
struct AuditLogTests {
    @Test func eachBuildLogsOneStartAndOneEndLineWithItsFacts() async throws {
        let daemon = try await DaemonUnderTest()
        let response = try await daemon.curl(
            requestJSON(["command": "sh", "args": ["-c", "exit 5"], "request_id": "req-42", "cwd": "sub"])
        )
        let id = try #require(try parseEvents(response.body).first?["id"] as? String)
        #expect(await eventually { daemon.log.contains("build finished") })
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("build.id=\(id)") }
        #expect(lines.count == 2)
        let start = try #require(lines.first { $0.contains("build started") })
        for fact in ["build.project=demo", "build.command=sh", "request.id=req-42", "build.cwd=\(daemon.projectRoot)/sub", "peer=127.0.0.1:"] {
            #expect(start.contains(fact), "\(fact) missing in: \(start)")
        }
        #expect(start.contains(#"build.args=[-c,"exit 5"]"#))
        let end = try #require(lines.first { $0.contains("build finished") })
        #expect(end.contains("build.exit_code=5"))
        #expect(end.range(of: #"build\.duration=\d+\.\d{3}s"#, options: .regularExpression) != nil)
        await daemon.stop()
    }
}
