import Foundation
import Testing

/// Every kind of bad request gets its status and stable code before anything runs, and the
/// daemon keeps serving.
@Suite(.serialized)
struct RequestErrorTests {
    static let cases: [(String, String, Int, String)] = [
        ("malformed JSON", "{\"project_id\": ", 400, "invalid_request"),
        ("JSON array", "[]", 400, "invalid_request"),
        ("wrong type", requestJSON(["command": "make", "args": "all"]), 400, "invalid_request"),
        ("NUL byte", "{\"project_id\":\"demo\",\"command\":\"make\",\"args\":[\"a\\u0000b\"]}", 400, "invalid_request"),
        ("schema version", requestJSON(["command": "make", "schema_version": "1"]), 400, "schema_version"),
        ("unknown project", requestJSON(["command": "make", "project_id": "nope"]), 404, "project_not_found"),
        ("command not on host", requestJSON(["command": "rm"]), 403, "command_unknown"),
        ("command not for project", requestJSON(["command": "make", "project_id": "other"]), 403, "command_not_allowed"),
        ("zero timeout", requestJSON(["command": "make", "timeout_sec": 0]), 400, "timeout"),
        ("ref on path project", requestJSON(["command": "make", "ref": "main"]), 400, "ref_not_allowed"),
        ("cwd escape", requestJSON(["command": "make", "cwd": "../.."]), 400, "invalid_path"),
        ("make -f escape", requestJSON(["command": "make", "args": ["-f", "/etc/passwd"]]), 400, "invalid_path"),
        ("make --directory= escape", requestJSON(["command": "make", "args": ["--directory=.."]]), 400, "invalid_path"),
    ]

    @Test func eachInvalidRequestGetsItsStatusAndCode() async throws {
        let daemon = try await DaemonUnderTest()
        for (name, body, status, code) in Self.cases {
            for overSocket in [false, true] {
                let response = try await daemon.curl(body, overSocket: overSocket)
                #expect(response.status == status, "\(name)")
                let object = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
                #expect(object?["code"] as? String == code, "\(name): \(response.body)")
                #expect((object?["error"] as? String)?.isEmpty == false, "\(name)")
            }
        }
        // Still serving after all of that.
        let ok = try await daemon.curl(requestJSON(["command": "true"]))
        #expect(ok.status == 200)
        await daemon.stop()
    }

    @Test func commandGoneSinceStartupIsASpawnFailureEventAndExitOne() async throws {
        let daemon = try await DaemonUnderTest()
        let before = try await daemon.curl(requestJSON(["command": "vanishing"]))
        #expect(before.body.contains(#""data":"still here\n""#))
        try FileManager.default.removeItem(atPath: daemon.vanishingCommand)
        let response = try await daemon.curl(requestJSON(["command": "vanishing"]))
        #expect(response.status == 200)
        let events = try parseEvents(response.body)
        #expect(events.map { $0["type"] as? String } == ["build", "error", "exit"])
        #expect(events[1]["code"] as? String == "spawn_failed")
        #expect((events[1]["message"] as? String)?.contains(daemon.vanishingCommand) == true)
        #expect(events[2]["code"] as? Int == 1)
        // The CLI shows the error with its code and exits 1.
        let cli = try await daemon.cli(["--project", "demo", "vanishing"])
        #expect(cli.status == 1)
        #expect(cli.stderrText.contains("spawn_failed"))
        await daemon.stop()
    }

    @Test func projectRootGoneSinceStartupIsPathRootInvalid() async throws {
        let daemon = try await DaemonUnderTest()
        try FileManager.default.removeItem(atPath: daemon.projectRoot)
        let response = try await daemon.curl(requestJSON(["command": "true"]))
        #expect(response.status == 500)
        #expect(response.body.contains("path_root_invalid"))
        #expect(response.body.contains("demo"))
        await daemon.stop()
    }

    @Test func bodyOverOneMebibyteIs413() async throws {
        let daemon = try await DaemonUnderTest()
        let huge = requestJSON(["command": "make", "args": [String(repeating: "x", count: 1_100_000)]])
        let response = try await daemon.curl(huge)
        #expect(response.status == 413)
        #expect(response.body.contains("payload_too_large"))
        await daemon.stop()
    }

    /// Each request size limit, over HTTP and in the legacy framing on the socket: refused with
    /// its own code and a message naming the key; a request at the limit runs.
    @Test func requestsOverEachSizeLimitAreRefusedWithTheirCode() async throws {
        var options = DaemonUnderTest.Options()
        options.lifecycle += "\nmax_args_bytes = 1000\nmax_args = 10"
        let daemon = try await DaemonUnderTest(options)
        // Each argument counts with its NUL: 4 of 249 bytes take exactly 1000.
        let atTheLimit = try await daemon.curl(
            requestJSON(["command": "printf", "args": Array(repeating: String(repeating: "a", count: 249), count: 4)])
        )
        #expect(atTheLimit.status == 200, "\(atTheLimit.body)")
        let refusals: [(fields: [String: Any], status: Int, code: String, names: String)] = [
            (["command": "printf", "args": Array(repeating: "a", count: 11)], 413, "too_many_args", "build.max_args"),
            (
                ["command": "printf", "args": Array(repeating: String(repeating: "a", count: 250), count: 4)], 413, "args_too_large",
                "build.max_args_bytes"
            ),
            (["command": "printf", "cwd": String(repeating: "d/", count: 2049)], 400, "field_too_long", "cwd"),
            (["command": String(repeating: "c", count: 256)], 400, "field_too_long", "command"),
        ]
        for refusal in refusals {
            let response = try await daemon.curl(requestJSON(refusal.fields))
            #expect(response.status == refusal.status, "\(response.body)")
            #expect(response.body.contains("\"code\":\"\(refusal.code)\""), "\(response.body)")
            #expect(response.body.contains(refusal.names), "\(response.body)")
            let legacy = try await daemon.legacy(requestJSON(refusal.fields))
            #expect(legacy.stdoutText.contains("\"code\":\"\(refusal.code)\""), "\(legacy.stdoutText)")
        }
        await daemon.stop()
    }

    /// The kernel runs no argument over 128 KiB whatever `max_args_bytes` says: the longest it
    /// takes runs, one byte more is refused before anything starts (execve would fail with E2BIG).
    @Test func oneArgumentOverTheKernelsLimitIsRefused() async throws {
        var options = DaemonUnderTest.Options()
        options.lifecycle += "\nmax_args_bytes = 1048576"
        let daemon = try await DaemonUnderTest(options)
        let longest = try await daemon.curl(requestJSON(["command": "printf", "args": ["%.1s", String(repeating: "a", count: 131_071)]]))
        #expect(longest.status == 200)
        #expect(try parseEvents(longest.body).last?["code"] as? Int == 0, "\(longest.body.suffix(300))")
        let over = try await daemon.curl(requestJSON(["command": "printf", "args": ["%.1s", String(repeating: "a", count: 131_072)]]))
        #expect(over.status == 413)
        #expect(
            over.body.contains(#""code":"args_too_large""#) && over.body.contains("args[1]") && over.body.contains("MAX_ARG_STRLEN"),
            "\(over.body)"
        )
        await daemon.stop()
    }

    @Test func unknownRouteAndWrongMethod() async throws {
        let daemon = try await DaemonUnderTest()
        let missing = try await daemon.curl("", path: "/v1/nothing", method: "GET")
        #expect(missing.status == 404)
        #expect(missing.body.contains("not_found"))
        let wrongMethod = try await daemon.curl("", path: "/v1/builds", method: "PUT")
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.headers.lowercased().contains("allow: get, head, post"))
        let artifactPost = try await daemon.curl("", path: "/v1/builds/bld_0/artifacts/x", method: "POST")
        #expect(artifactPost.status == 405)
        #expect(artifactPost.headers.lowercased().contains("allow: get, head"))
        await daemon.stop()
    }

    @Test func bearerTokenIsRequiredWhenConfigured() async throws {
        var options = DaemonUnderTest.Options()
        options.httpAuthTokens = ["http-secret-token"]
        options.socketAuthTokens = ["socket-secret-token"]
        let daemon = try await DaemonUnderTest(options)
        let body = requestJSON(["command": "true"])
        let missing = try await daemon.curl(body)
        #expect(missing.status == 401)
        #expect(missing.headers.lowercased().contains("www-authenticate: bearer"))
        #expect(missing.body.contains("unauthorized"))
        let wrong = try await daemon.curl(body, headers: ["Authorization: Bearer http-secret-tokem"])
        #expect(wrong.status == 401)
        // An unauthenticated client learns nothing about projects.
        let probing = try await daemon.curl(requestJSON(["command": "true", "project_id": "nope"]))
        #expect(probing.status == 401)
        let good = try await daemon.curl(body, headers: ["Authorization: Bearer http-secret-token"])
        #expect(good.status == 200)
        // The socket has its own tokens, in the header or as auth_token in the body.
        let socketWrong = try await daemon.curl(body, overSocket: true, headers: ["Authorization: Bearer http-secret-token"])
        #expect(socketWrong.status == 401)
        let socketBody = try await daemon.curl(
            requestJSON(["command": "true", "auth_token": "socket-secret-token"]),
            overSocket: true
        )
        #expect(socketBody.status == 200)
        // Other routes on the socket want the header token before anything else, too.
        let socketRoute = try await daemon.curl("", path: "/no/such/route", method: "GET", overSocket: true)
        #expect(socketRoute.status == 401)
        let socketRouteWithToken = try await daemon.curl(
            "",
            path: "/no/such/route",
            method: "GET",
            overSocket: true,
            headers: ["Authorization: Bearer socket-secret-token"]
        )
        #expect(socketRouteWithToken.status == 404)
        // A wrong token in the body (the legacy line) is a failed authentication like a wrong
        // header: counted with the two above.
        let legacyWrong = try await daemon.legacy(requestJSON(["command": "true", "auth_token": "socket-secret-tokem"]))
        #expect(legacyWrong.stdoutText.contains(#""code":"unauthorized""#), "\(legacyWrong.stdoutText)")
        let metrics = try await daemon.curl(
            "",
            path: "/metrics",
            method: "GET",
            overSocket: true,
            headers: ["Authorization: Bearer socket-secret-token"]
        )
        #expect(metrics.body.contains(#"build_service_auth_failures_total{listener="unix"} 3"#), "\(metrics.body)")
        let cli = try await daemon.cli(["--project", "demo", "--token", "http-secret-token", "true"], overHTTP: true)
        #expect(cli.status == 0)
        let cliWrong = try await daemon.cli(["--project", "demo", "true"], overHTTP: true)
        #expect(cliWrong.status == 77)
        #expect(cliWrong.stderrText.contains("unauthorized"))
        await daemon.stop()
        #expect(!daemon.log.contains("secret-token"))
    }

    @Test func aLongPipelineOfRefusedRequestsIsAnsweredInOrderWithoutExhaustingTheStack() async throws {
        var options = DaemonUnderTest.Options()
        options.httpAuthTokens = ["pipeline-token"]
        let daemon = try await DaemonUnderTest(options)
        // 3,000 requests in one go; each is refused at once (401), the connection stays open.
        let script = """
            import socket
            s = socket.create_connection(("127.0.0.1", \(daemon.port)))
            s.sendall(b"GET /artifacts/x HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" * 3000 + b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            print(data.count(b"HTTP/1.1 401"), data.count(b"HTTP/1.1 200"))
            """
        let result = try await TestProcess.run("/usr/bin/python3", ["-c", script], outputDirectory: daemon.directory)
        #expect(result.stdoutText == "3000 1\n", "\(result.stderrText)")
        let after = try await daemon.curl(requestJSON(["command": "true"]), headers: ["Authorization: Bearer pipeline-token"])
        #expect(after.status == 200)
    }

    /// Framings two HTTP parsers could read differently, each sent behind a good request with
    /// a hidden request after it: the good one is answered, the ambiguous one gets 400
    /// bad_request, and the connection ends, so the hidden request is never read as one.
    @Test func ambiguousFramingsAre400AndNothingBehindThemIsAnswered() async throws {
        let daemon = try await DaemonUnderTest()
        let script = #"""
            import socket, sys
            hidden = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            framings = [
                b"POST /v1/builds HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                b"POST /v1/builds HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
                b"POST /v1/builds HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
                b"POST /v1/builds HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
                b"POST /v1/builds HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n",
                b"GET /healthz HTTP/1.1\nHost: x\n\n",
            ]
            for framing in framings:
                s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                s.sendall(hidden + framing + hidden)
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
                print(data.count(b"HTTP/1.1 200"), data.count(b"HTTP/1.1 400"), data.count(b'"code":"bad_request"'))
            """#
        let result = try await TestProcess.run(
            "/usr/bin/python3",
            ["-c", script, String(daemon.port)],
            outputDirectory: daemon.directory
        )
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText == String(repeating: "1 1 1\n", count: 6), "\(result.stdoutText)")
        let after = try await daemon.curl(requestJSON(["command": "true"]))
        #expect(after.status == 200)
    }
}
