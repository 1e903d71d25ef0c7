import Foundation
import Testing

/// The HTTPS listener checked from outside with `openssl s_client` and curl, as the people who
/// run nginx would check it: protocols, suites, ALPN, renegotiation, resumption, close_notify.
@Suite struct TLSHandshakeTests {
    let certificates: TestCertificates
    let daemon: DaemonUnderTest

    init() async throws {
        certificates = try await TestCertificates()
        daemon = try await DaemonUnderTest(.init(tls: .init(certificates: certificates)))
    }

    /// Runs `openssl s_client` against the daemon with `input` piped in through a shell, so a
    /// test can pause (`sleep`) before s_client sees the end of its input. Output is stdout+stderr.
    private func sClient(_ options: String, input: String = "") async throws -> (status: Int32, output: String) {
        let command =
            "(\(input)) | /usr/bin/openssl s_client -connect 127.0.0.1:\(daemon.port) -servername localhost "
            + "-CAfile \(certificates.caPath) \(options) 2>&1"
        let result = try await TestProcess.run("/bin/sh", ["-c", command], outputDirectory: certificates.directory)
        return (result.status, result.stdoutText)
    }

    @Test func curlRunsABuildOverHTTPSWithTheDevelopmentCA() async throws {
        let response = try await daemon.curl(requestJSON(["command": "make", "args": ["all"]]))
        #expect(response.status == 200)
        let events = try parseEvents(response.body)
        #expect(events.first?["status"] as? String == "started")
        #expect(events.last?["type"] as? String == "exit")
        #expect(events.last?["code"] as? Int == 0)
    }

    @Test func tls13AndTLS12WithAEADSuitesAreOffered() async throws {
        let tls13 = try await sClient("-tls1_3 -brief -verify_return_error", input: "true")
        #expect(tls13.output.contains("Protocol version: TLSv1.3"), "\(tls13.output)")
        #expect(tls13.output.contains("Verification: OK"))
        let tls12 = try await sClient("-tls1_2 -brief -cipher ECDHE-ECDSA-CHACHA20-POLY1305", input: "true")
        #expect(tls12.output.contains("Protocol version: TLSv1.2"), "\(tls12.output)")
        #expect(tls12.output.contains("Ciphersuite: ECDHE-ECDSA-CHACHA20-POLY1305"))
    }

    @Test(arguments: ["-tls1", "-tls1_1"])
    func oldProtocolVersionsAreRefused(flag: String) async throws {
        // Lower the client's own floor, so that the refusal is the server's.
        let result = try await sClient("\(flag) -cipher DEFAULT@SECLEVEL=0", input: "true")
        #expect(result.status != 0)
        #expect(result.output.contains("alert protocol version") || result.output.contains("no protocols available"), "\(result.output)")
    }

    @Test(arguments: ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"])
    func cbcAndStaticRSASuitesAreRefused(suite: String) async throws {
        let result = try await sClient("-tls1_2 -cipher \(suite)", input: "true")
        #expect(result.status != 0)
        #expect(result.output.contains("handshake failure") || result.output.contains("no cipher"), "\(result.output)")
    }

    @Test func h2OnlyALPNIsRefusedAndHTTP11IsSelected() async throws {
        let h2 = try await sClient("-alpn h2", input: "true")
        #expect(h2.status != 0)
        #expect(h2.output.contains("no application protocol"), "\(h2.output)")
        let both = try await sClient("-alpn h2,http/1.1", input: "true")
        #expect(both.output.contains("ALPN protocol: http/1.1"), "\(both.output)")
    }

    /// A failed handshake is counted in /metrics (a handshake that succeeds is not).
    @Test func failedHandshakesAreCounted() async throws {
        func failures() async throws -> Double? {
            let response = try await daemon.curl("", path: "/metrics", method: "GET")
            return metricValue(metricSamples(response.body), "build_service_tls_handshake_failures_total")
        }
        let before = try await failures() ?? 0
        _ = try await sClient("-alpn h2", input: "true")
        _ = try await sClient("-tls1_1", input: "true")
        #expect(await eventuallyAsync { (try? await failures()) == before + 2 })
    }

    @Test func clientInitiatedRenegotiationIsRefused() async throws {
        // "R" on a line of its own asks s_client to renegotiate.
        let result = try await sClient("-tls1_2", input: "printf 'R\\n'; sleep 1")
        #expect(result.output.contains("RENEGOTIATING"), "\(result.output)")
        #expect(result.output.contains("no renegotiation"), "\(result.output)")
    }

    @Test(arguments: ["-tls1_3", "-tls1_2"])
    func sessionsAreResumed(flag: String) async throws {
        let session = certificates.directory + "/session-\(UUID().uuidString)"
        // TLS 1.3 tickets arrive after the handshake: give s_client a moment to read them,
        // longer on a loaded machine.
        for pause in ["0.5", "2", "5"] where !FileManager.default.fileExists(atPath: session) {
            _ = try await sClient("\(flag) -sess_out \(session)", input: "sleep \(pause)")
        }
        let resumed = try await sClient("\(flag) -sess_in \(session)", input: "sleep 0.5")
        #expect(resumed.output.contains("Reused, TLSv1."), "\(resumed.output)")
    }

    @Test func closeNotifyIsSentBeforeTheConnectionCloses() async throws {
        let request = "GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n"
        let result = try await sClient("-ign_eof", input: "printf '\(request)'")
        #expect(result.output.contains("{\"status\":\"ok\","), "\(result.output)")
        // Without close_notify OpenSSL 3 reports the bare TCP close as an error.
        #expect(!result.output.contains("unexpected eof"), "\(result.output)")
        #expect(result.output.contains("closed"))
    }

    @Test func plainHTTPOnTheHTTPSPortGetsAReadableRefusal() async throws {
        let result = try await TestProcess.run(
            "/usr/bin/curl",
            ["-sS", "-i", "http://127.0.0.1:\(daemon.port)/healthz"],
            outputDirectory: certificates.directory
        )
        #expect(result.stdoutText.hasPrefix("HTTP/1.1 400"), "\(result.stdoutText)")
        #expect(result.stdoutText.contains("This port speaks HTTPS"))
    }

    @Test func garbageAndTruncatedHandshakesDoNotDisturbOtherConnections() async throws {
        // Half a ClientHello that never completes, and random bytes: both stay open or get
        // closed, while a real client on another connection builds as usual.
        let truncated = try socketConnect(port: daemon.port)
        defer { close(truncated) }
        let clientHelloStart: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]
        _ = clientHelloStart.withUnsafeBytes { write(truncated, $0.baseAddress, $0.count) }
        let garbage = try socketConnect(port: daemon.port)
        defer { close(garbage) }
        let noise = (0..<4096).map { _ in UInt8.random(in: 0...255) }
        _ = noise.withUnsafeBytes { write(garbage, $0.baseAddress, $0.count) }

        let response = try await daemon.curl(requestJSON(["command": "true"]))
        #expect(response.status == 200)
        #expect(try parseEvents(response.body).last?["code"] as? Int == 0)
        // The garbage connection got an alert (or nothing) and was closed by the daemon.
        let (alert, closed) = readUntilClosed(garbage, timeoutSec: 5)
        #expect(closed, "the daemon left the garbage connection open")
        #expect(alert.count < 512)
        #expect(daemon.log.contains("TLS connection failed"))
    }
}

extension TLSHandshakeTests {
    @Test func aConnectionThatNeverCompletesItsHandshakeIsClosed() async throws {
        // Connected, silent: the 10 s handshake timeout closes it (the idle limit is 60 s).
        let silent = try socketConnect(port: daemon.port)
        defer { close(silent) }
        let (received, closed) = readUntilClosed(silent, timeoutSec: 30)
        #expect(closed && received.isEmpty, "expected the daemon to close the connection")
        #expect(await eventually { daemon.log.contains("tls=handshakeTimeout") })
    }
}
