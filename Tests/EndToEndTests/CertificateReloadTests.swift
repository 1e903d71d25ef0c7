import Foundation
import Testing

/// SIGHUP swaps the HTTPS certificate for new connections while live ones carry on; a broken
/// replacement keeps the old certificate in service.
@Suite struct CertificateReloadTests {
    /// The serial number of the certificate the daemon presents to a new connection.
    private func servedSerial(_ daemon: DaemonUnderTest, _ certificates: TestCertificates) async throws -> String {
        let command =
            "/usr/bin/openssl s_client -connect 127.0.0.1:\(daemon.port) -servername localhost </dev/null 2>/dev/null"
            + " | /usr/bin/openssl x509 -noout -serial"
        return try await TestProcess.run("/bin/sh", ["-c", command], outputDirectory: certificates.directory).stdoutText
    }

    private func fileSerial(_ path: String, _ certificates: TestCertificates) async throws -> String {
        try await TestProcess.run("/usr/bin/openssl", ["x509", "-noout", "-serial", "-in", path], outputDirectory: certificates.directory)
            .stdoutText
    }

    @Test func sighupServesTheNewCertificateWhileAStreamingBuildContinues() async throws {
        let certificates = try await TestCertificates()
        let daemon = try await DaemonUnderTest(.init(tls: .init(certificates: certificates)))
        let oldSerial = try await fileSerial(certificates.directory + "/server.pem", certificates)
        #expect(try await servedSerial(daemon, certificates) == oldSerial)

        // A build that streams for a few seconds over a connection made with the old certificate.
        let body = requestJSON(["command": "sh", "args": ["-c", "for i in $(seq 1 30); do echo tick $i; sleep 0.1; done"]])
        async let streaming = daemon.curl(body)
        try await Task.sleep(for: .milliseconds(500))

        let newPath = try await certificates.issue(name: "server")
        let newSerial = try await fileSerial(newPath, certificates)
        #expect(newSerial != oldSerial)
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("TLS certificate reloaded") })
        #expect(try await servedSerial(daemon, certificates) == newSerial)

        let response = try await streaming
        #expect(response.status == 200)
        let events = try parseEvents(response.body)
        // Counted in lines: on a busy machine two ticks can arrive in one read, one event.
        #expect(stdoutText(events).split(separator: "\n").count == 30, "\(events)")
        #expect(events.last?["code"] as? Int == 0)

        // A broken replacement: the daemon keeps serving the last good certificate.
        try "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".write(
            toFile: newPath,
            atomically: false,
            encoding: .utf8
        )
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("config reload failed; the running config is kept") })
        #expect(daemon.log.contains(newPath))
        #expect(try await servedSerial(daemon, certificates) == newSerial)
        let after = try await daemon.curl(requestJSON(["command": "true"]))
        #expect(after.status == 200)
    }
}
