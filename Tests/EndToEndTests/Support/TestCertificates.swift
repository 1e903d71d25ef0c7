import Foundation

/// TLS material made at test time by `certs/make-dev-certs.sh` (the script the README's demo
/// uses): a development CA and a server certificate for localhost/127.0.0.1/::1, plus whatever
/// else a test issues. Keys live only in a temporary directory.
final class TestCertificates: @unchecked Sendable {
    let directory: String
    var caPath: String { directory + "/ca.pem" }

    static let script: String = {
        // Tests/EndToEndTests/Support/TestCertificates.swift → repository root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("certs/make-dev-certs.sh").path
    }()

    init() async throws {
        var template = Array("/tmp/bs-certs-XXXXXX".utf8CString)
        guard let pointer = mkdtemp(&template) else { throw DaemonError("mkdtemp failed") }
        directory = String(cString: pointer)
        try await issue(name: "server")
    }

    /// Issues NAME.pem/NAME.key into `directory` (signed by its CA unless `caDirectory` says
    /// otherwise) and returns the certificate's path.
    @discardableResult
    func issue(
        name: String,
        san: String? = nil,
        expired: Bool = false,
        client: Bool = false,
        caDirectory: String? = nil
    ) async throws -> String {
        var arguments = [Self.script, "--out", directory, "--name", name]
        if let san { arguments += ["--san", san] }
        if expired { arguments.append("--expired") }
        if client { arguments.append("--client") }
        if let caDirectory { arguments += ["--ca-dir", caDirectory] }
        let result = try await TestProcess.run("/bin/sh", arguments, outputDirectory: directory)
        guard result.status == 0 else { throw DaemonError("make-dev-certs.sh failed: \(result.stderrText)") }
        return directory + "/\(name).pem"
    }

    /// A second, unrelated CA directory (for "unknown CA" checks).
    func makeForeignCADirectory() throws -> String {
        let foreign = directory + "/foreign-ca"
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        return foreign
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
