import Foundation
import Testing

/// `--version` of both programs says the version, the commit it was built from ("unknown" in
/// a development build; scripts/build-release.sh gives it) and the OpenSSL it runs with, and
/// needs no config, project or service.
@Suite struct VersionTests {
    @Test(arguments: ["build-service", "build-cli"])
    func versionNamesTheCommitAndOpenSSL(program: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bs-version-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await TestProcess.run(
            TestProcess.binary(program),
            ["--version"],
            environment: ["PATH": "/usr/bin:/bin"],
            outputDirectory: directory
        )
        #expect(result.status == 0, "\(result.stderrText)")
        let line = result.stdoutText.trimmingCharacters(in: .newlines)
        #expect(line.hasPrefix("\(program) 0."), "\(line)")
        #expect(line.contains("(commit "), "\(line)")
        #expect(line.contains("OpenSSL 3."), "\(line)")
    }
}
