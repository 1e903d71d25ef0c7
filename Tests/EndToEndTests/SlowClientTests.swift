import Foundation
import Testing

/// Slowloris: a request that arrives a byte at a time holds a connection only until its
/// deadline (`service.http.header_timeout_sec` for the head, `body_timeout_sec` for the body);
/// a keep-alive connection that sends nothing is not cut by them.
@Suite struct SlowClientTests {
    /// Sends `opening`, then `drip` every 0.2 s up to `drips` times, and prints how many drips
    /// went out before the server closed the connection (or "open" if it never did), then
    /// what the server had sent.
    private static let dripper = """
        import socket, sys, time
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        s.sendall(sys.argv[2].encode())
        s.settimeout(0.2)
        received, sent = b"", 0
        for _ in range(int(sys.argv[4])):
            try:
                chunk = s.recv(65536)
                if not chunk:
                    print("closed after", sent); break
                received += chunk
            except socket.timeout:
                pass
            except ConnectionResetError:
                print("closed after", sent); break
            try:
                s.sendall(sys.argv[3].encode()); sent += 1
            except (BrokenPipeError, ConnectionResetError):
                print("closed after", sent); break
        else:
            print("open")
        print(received.decode(errors="replace"))
        """

    private func drip(_ daemon: DaemonUnderTest, opening: String, drip: String, times: Int) async throws -> String {
        try await TestProcess.run(
            "/usr/bin/python3",
            ["-c", Self.dripper, String(daemon.port), opening, drip, String(times)],
            outputDirectory: daemon.directory
        ).stdoutText
    }

    private func daemon() async throws -> DaemonUnderTest {
        var options = DaemonUnderTest.Options()
        options.httpExtra = "header_timeout_sec = 1\nbody_timeout_sec = 1"
        return try await DaemonUnderTest(options)
    }

    @Test func aHeadThatTricklesInIsCutAtItsDeadline() async throws {
        let daemon = try await daemon()
        // A header line every 0.2 s would keep the 60 s read timeout from ever firing.
        let output = try await drip(daemon, opening: "GET /healthz HTTP/1.1\r\nHost: x\r\n", drip: "X-Slow: 1\r\n", times: 50)
        #expect(output.hasPrefix("closed after"), "\(output)")
        #expect(!output.contains("HTTP/1.1 200"))
        let metrics = try await daemon.curl("", path: "/metrics", method: "GET")
        #expect(metrics.body.contains(#"build_service_request_timeouts_total{phase="head"} 1"#), "\(metrics.body)")
        await daemon.stop()
    }

    @Test func aBodyThatTricklesInIsCutAtItsDeadline() async throws {
        let daemon = try await daemon()
        let opening = "POST /v1/builds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"
        let output = try await drip(daemon, opening: opening, drip: " ", times: 50)
        #expect(output.hasPrefix("closed after"), "\(output)")
        let metrics = try await daemon.curl("", path: "/metrics", method: "GET")
        #expect(metrics.body.contains(#"build_service_request_timeouts_total{phase="body"} 1"#), "\(metrics.body)")
        await daemon.stop()
    }

    /// Behind TLS a request is invisible until its record is complete: a record trickled in a
    /// byte at a time must not escape the deadline (the deadline times the wire's bytes).
    @Test func aTLSRecordThatTricklesInIsCutAtTheHeadDeadline() async throws {
        var options = DaemonUnderTest.Options()
        options.httpExtra = "header_timeout_sec = 1"
        let certificates = try await TestCertificates()
        options.tls = .init(certificates: certificates)
        let daemon = try await DaemonUnderTest(options)
        let script = """
            import socket, ssl, sys, time
            context = ssl.create_default_context(cafile=sys.argv[2])
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            while True:
                try:
                    tls.do_handshake(); break
                except ssl.SSLWantReadError:
                    s.sendall(outgoing.read()); incoming.write(s.recv(65536))
            s.sendall(outgoing.read())
            tls.write(b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nX-Pad: " + b"a" * 2000 + b"\\r\\n")
            record = outgoing.read()
            s.settimeout(0.2)
            for i in range(50):
                try:
                    s.sendall(record[i:i + 1])
                    if s.recv(100) == b"":
                        print("closed after", i); break
                except socket.timeout:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    print("closed after", i); break
            else:
                print("open")
            """
        let output = try await TestProcess.run(
            "/usr/bin/python3",
            ["-c", script, String(daemon.port), certificates.caPath],
            outputDirectory: daemon.directory
        ).stdoutText
        #expect(output.hasPrefix("closed after"), "\(output)")
        await daemon.stop()
    }

    /// A request refused at its head while its body still comes is answered, then its body is
    /// read and dropped for a few seconds: that linger is not a slow request.
    @Test func aRefusedRequestsLingerIsNotCutOrCountedAsATimeout() async throws {
        var options = DaemonUnderTest.Options()
        options.httpExtra = "header_timeout_sec = 1\nbody_timeout_sec = 1"
        options.httpAuthTokens = ["slow-client-test-token"]
        let daemon = try await DaemonUnderTest(options)
        let opening = "POST /v1/builds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Length: 500\r\n\r\n{"
        // The answer comes with the end of the daemon's output; the body goes on for 2 s,
        // past both deadlines and within the 5 s linger.
        let script = """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.sendall(sys.argv[2].encode())
            answer = b""
            while True:
                chunk = s.recv(65536)
                if not chunk: break
                answer += chunk
            sent = 0
            for _ in range(10):
                time.sleep(0.2)
                try:
                    s.sendall(b" "); sent += 1
                except (BrokenPipeError, ConnectionResetError):
                    break
            print(answer.split(b"\\r\\n")[0].decode(), "| body bytes sent after it:", sent)
            """
        let output = try await TestProcess.run(
            "/usr/bin/python3",
            ["-c", script, String(daemon.port), opening],
            outputDirectory: daemon.directory
        ).stdoutText
        #expect(output.hasPrefix("HTTP/1.1 401"), "\(output)")
        // Every byte of the body went in: the connection was not cut under it.
        #expect(output.hasSuffix("body bytes sent after it: 10\n"), "\(output)")
        let metrics = try await daemon.curl("", path: "/metrics", method: "GET", headers: ["Authorization: Bearer slow-client-test-token"])
        #expect(metrics.status == 200)
        #expect(!metrics.body.contains("build_service_request_timeouts_total{"), "\(metrics.body)")
        await daemon.stop()
    }

    /// Between requests nothing is timed but the read timeout: a client may think for longer
    /// than the head deadline before its next request on the same connection.
    @Test func aKeepAliveConnectionMayWaitLongerThanTheHeadDeadline() async throws {
        let daemon = try await daemon()
        let script = """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            request = b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
            s.sendall(request); time.sleep(0.3); first = s.recv(65536)
            time.sleep(2.5)
            s.sendall(request); time.sleep(0.3); second = s.recv(65536)
            print(first.split(b"\\r\\n")[0].decode(), "|", second.split(b"\\r\\n")[0].decode())
            """
        let output = try await TestProcess.run(
            "/usr/bin/python3",
            ["-c", script, String(daemon.port)],
            outputDirectory: daemon.directory
        ).stdoutText
        #expect(output.hasPrefix("HTTP/1.1 200 OK | HTTP/1.1 200 OK"), "\(output)")
        await daemon.stop()
    }
}
