import Foundation
import Testing

/// HTTP behaviour that depends on the TLS handler underneath: keep-alive, early refusals that
/// half-close (close_notify, then TCP FIN), and a vanished client cancelling its build.
@Suite struct HTTPSConnectionTests {
    let certificates: TestCertificates
    let daemon: DaemonUnderTest

    init() async throws {
        certificates = try await TestCertificates()
        daemon = try await DaemonUnderTest(.init(tls: .init(certificates: certificates)))
    }

    @Test func twoRequestsShareOneKeptAliveTLSConnection() async throws {
        let url = daemon.httpBase + "/v1/builds"
        let body = requestJSON(["command": "printf", "args": ["one"]])
        let result = try await TestProcess.run(
            "/usr/bin/curl",
            [
                "-sS", "-v", "--cacert", certificates.caPath, "--data-binary", body, url, "--next", "--cacert", certificates.caPath, "--data-binary",
                body, url,
            ],
            outputDirectory: certificates.directory
        )
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText.components(separatedBy: "\"type\":\"exit\"").count == 3)
        #expect(result.stderrText.contains("Re-using existing connection"), "\(result.stderrText)")
    }

    @Test func anOversizedBodyIsRefusedWith413OverTLS() async throws {
        // The refusal comes before the body is read; the client still gets it whole, because the
        // daemon ends its side with close_notify and a half-close instead of a reset.
        let big = String(repeating: "x", count: 2 * 1024 * 1024)
        let response = try await daemon.curl(big)
        #expect(response.status == 413)
        #expect(response.body.contains("\"code\":\"payload_too_large\""))
    }

    @Test func aClientThatGoesAwayMidBuildCancelsItOverTLS() async throws {
        let marker = uniqueMarker()
        let client = try TestProcess.start(
            "/usr/bin/curl",
            [
                "-sS", "-N", "--cacert", certificates.caPath, "--data-binary", requestJSON(["command": "sleep", "args": [marker]]),
                daemon.httpBase + "/v1/builds",
            ],
            outputDirectory: certificates.directory
        )
        #expect(await eventually { !processes(matching: "sleep \(marker)").isEmpty })
        client.signal(SIGKILL)
        _ = await client.wait()
        #expect(await eventually(within: .seconds(3)) { processes(matching: "sleep \(marker)").isEmpty })
        #expect(await eventually { daemon.log.contains("build.cancelled=true") })
    }
}
