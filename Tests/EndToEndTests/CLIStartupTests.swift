import Foundation
import Testing

/// What build-cli loads to start: over the Unix socket no TLS library and no CA store (OpenSSL
/// is opened on first use, see CShims/openssl/openssl_loader.c), and over HTTPS both. Watched
/// with strace, as an outsider would.
@Suite struct CLIStartupTests {
    /// The files build-cli opened during a run (strace's openat lines that succeeded).
    private func openedFiles(_ daemon: DaemonUnderTest, _ arguments: [String], overHTTP: Bool = false) async throws -> [String] {
        let trace = daemon.directory + "/trace-\(UUID().uuidString)"
        var command = [TestProcess.binary("build-cli")]
        if overHTTP, let tls = daemon.tls {
            command += ["--endpoint", daemon.httpBase, "--cacert", tls.certificates.caPath]
        } else {
            command += ["--socket", daemon.socketPath]
        }
        let result = try await TestProcess.run(
            "/usr/bin/strace",
            ["-f", "-qq", "-e", "trace=openat", "-o", trace] + command + arguments,
            environment: ["PATH": "/usr/bin:/bin"],
            currentDirectory: daemon.projectRoot,
            outputDirectory: daemon.directory
        )
        #expect(result.status == 0, "\(result.stderrText)")
        let lines = (try? String(contentsOfFile: trace, encoding: .utf8)) ?? ""
        return lines.split(separator: "\n").filter { !$0.contains("= -1") }.compactMap { line in
            line.firstMatch(of: #/openat\([^,]*, "([^"]*)"/#).map { String($0.1) }
        }
    }

    @Test func overTheSocketNoTLSLibraryOrCAStoreIsLoaded() async throws {
        let daemon = try await DaemonUnderTest()
        let opened = try await openedFiles(daemon, ["-q", "--project", "demo", "true"])
        #expect(!opened.isEmpty, "strace saw build-cli open files")
        let tls = opened.filter { $0.contains("libssl") || $0.contains("libcrypto") || $0.hasPrefix("/etc/ssl") || $0.hasPrefix("/usr/lib/ssl") }
        #expect(tls.isEmpty, "\(tls)")
    }

    @Test func overHTTPSTheTLSLibraryIsLoaded() async throws {
        let certificates = try await TestCertificates()
        var options = DaemonUnderTest.Options(tls: .init(certificates: certificates))
        options.httpAuthTokens = ["startup-token-77"]
        let daemon = try await DaemonUnderTest(options)
        let opened = try await openedFiles(daemon, ["-q", "--token", "startup-token-77", "--project", "demo", "true"], overHTTP: true)
        #expect(opened.contains { $0.hasSuffix("libssl.so.3") } && opened.contains { $0.hasSuffix("libcrypto.so.3") }, "\(opened)")
        #expect(opened.contains(certificates.caPath), "\(opened)")
    }
}
