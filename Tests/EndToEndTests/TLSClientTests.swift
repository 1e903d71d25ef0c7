import Foundation
import Testing

/// build-cli over HTTPS: it verifies the daemon's certificate (CA, host name, expiry) and can
/// present a client certificate; large outputs arrive intact.
@Suite struct TLSClientTests {
    let certificates: TestCertificates

    init() async throws {
        certificates = try await TestCertificates()
    }

    /// http:// to the HTTPS port: the daemon's plain-text 400 is not the protocol (exit 76,
    /// once 1, a make failure's code).
    @Test func plainHTTPToTheHTTPSPortIsAProtocolError() async throws {
        let daemon = try await DaemonUnderTest(.init(tls: .init(certificates: certificates)))
        let result = try await TestProcess.run(
            TestProcess.binary("build-cli"),
            ["--endpoint", "http://127.0.0.1:\(daemon.port)", "--project", "demo", "true"],
            outputDirectory: daemon.directory
        )
        #expect(result.status == 76, "\(result.stderrText)")
        #expect(result.stderrText.contains("HTTPS"), "\(result.stderrText)")
        await daemon.stop()
    }

    @Test func buildCLIRunsABuildOverHTTPSAndRelaysItsExitCode() async throws {
        let daemon = try await DaemonUnderTest(.init(tls: .init(certificates: certificates)))
        let ok = try await daemon.cli(["--project", "demo", "make", "all"], overHTTP: true)
        #expect(ok.status == 0, "\(ok.stderrText)")
        #expect(ok.stdoutText.contains("done"))
        #expect(ok.stderrText.contains("to stderr"))
        let failed = try await daemon.cli(["--project", "demo", "make", "fail"], overHTTP: true)
        #expect(failed.status == 2)
        // By IP literal: checked against the certificate's IP SAN, and no SNI is sent.
        let byIP = try await daemon.cli(
            ["--endpoint", "https://127.0.0.1:\(daemon.port)", "--project", "demo", "true"],
            environment: ["BUILD_SERVICE_CACERT": certificates.caPath]
        )
        #expect(byIP.status == 0, "\(byIP.stderrText)")
    }

    @Test func buildCLIRefusesACertificateForAnotherHost() async throws {
        try await certificates.issue(name: "server", san: "DNS:other.example")
        let daemon = try await DaemonUnderTest(.init(tls: .init(certificates: certificates)))
        let result = try await daemon.cli(["--project", "demo", "true"], overHTTP: true)
        #expect(result.status == 76)
        #expect(result.stderrText.lowercased().contains("hostname mismatch"), "\(result.stderrText)")
    }

    @Test func buildCLIRefusesAnUnknownCA() async throws {
        let foreign = try certificates.makeForeignCADirectory()
        try await certificates.issue(name: "server", caDirectory: foreign)
        let daemon = try await DaemonUnderTest(.init(tls: .init(certificates: certificates)))
        let result = try await daemon.cli(["--project", "demo", "true"], overHTTP: true)
        #expect(result.status == 76)
        #expect(result.stderrText.contains("unable to get local issuer certificate"), "\(result.stderrText)")
        #expect(result.stderrText.contains("give it with --cacert FILE"), "\(result.stderrText)")
        // Without --cacert the system store does not know the development CA either.
        let system = try await daemon.cli(["--endpoint", daemon.httpBase, "--project", "demo", "true"])
        #expect(system.status == 76, "\(system.stderrText)")
    }

    @Test func buildCLIRefusesAnExpiredCertificate() async throws {
        try await certificates.issue(name: "server", expired: true)
        let daemon = try await DaemonUnderTest(.init(tls: .init(certificates: certificates)))
        let result = try await daemon.cli(["--project", "demo", "true"], overHTTP: true)
        #expect(result.status == 76)
        #expect(result.stderrText.contains("certificate has expired"), "\(result.stderrText)")
    }

    @Test func requiredClientCertificatesAreEnforced() async throws {
        try await certificates.issue(name: "agent", client: true)
        let extra = "client_auth = \"required\"\nclient_ca_path = \"\(certificates.caPath)\""
        let daemon = try await DaemonUnderTest(.init(tls: .init(certificates: certificates, extra: extra)))
        let without = try await daemon.curl(requestJSON(["command": "true"]))
        #expect(without.status == 0)  // no HTTP answer at all: the handshake fails
        let withCurl = try await daemon.curl(
            requestJSON(["command": "true"]),
            curlArguments: ["--cert", certificates.directory + "/agent.pem", "--key", certificates.directory + "/agent.key"]
        )
        #expect(withCurl.status == 200)
        let withoutCLI = try await daemon.cli(["--project", "demo", "true"], overHTTP: true)
        #expect(withoutCLI.status == 76, "\(withoutCLI.stderrText)")
        #expect(withoutCLI.stderrText.contains("certificate required"), "\(withoutCLI.stderrText)")
        let withCLI = try await daemon.cli(
            [
                "--client-cert", certificates.directory + "/agent.pem", "--client-key", certificates.directory + "/agent.key",
                "--project", "demo", "true",
            ],
            overHTTP: true
        )
        #expect(withCLI.status == 0, "\(withCLI.stderrText)")
    }

    @Test func twoHundredMebibytesArriveByteIdenticalOverHTTPS() async throws {
        let daemon = try await DaemonUnderTest(.init(tls: .init(certificates: certificates)))
        // Lines of mixed lengths, quotes and backslashes, so JSON escaping is exercised too. The
        // loop stops once `head` has gone, also where SIGPIPE is ignored: the run below inherits
        // that from this test process (SwiftNIO ignores it process-wide once a socket is made).
        let producer = "i=0; while :; do i=$((i+1)); printf '%s \"q\" \\\\ %0*d\\n' line \"$((i % 97))\" \"$i\" || break; done | head -c 209715200"
        let cli = TestProcess.binary("build-cli")
        // pipefail: a relay that failed (or timed out on a loaded machine) says so instead of
        // showing up only as a checksum that differs.
        let script = """
            set -e -o pipefail
            '\(cli)' --timeout 600 --cacert '\(certificates.caPath)' --endpoint '\(daemon.httpBase)' --project demo sh -c '\(producer.replacingOccurrences(of: "'", with: "'\\''"))' | sha256sum
            sh -c '\(producer.replacingOccurrences(of: "'", with: "'\\''"))' | sha256sum
            """
        let result = try await TestProcess.run("/bin/bash", ["-c", script], outputDirectory: certificates.directory)
        #expect(result.status == 0, "\(result.stderrText)")
        let sums = result.stdoutText.split(separator: "\n")
        #expect(sums.count == 2)
        #expect(sums.first == sums.last, "\(sums)")
    }
}
