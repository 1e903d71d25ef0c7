import BuildServiceFuzzing
import Foundation

/// A development CA and a server certificate for localhost, made once per test process by
/// `certs/make-dev-certs.sh` (the script the README's demo uses) in a temporary directory.
enum TestCertificate {
    static let directory: String = {
        // Tests/BuildServiceTLSTests/TestCertificate.swift → repository root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        do {
            let directory = try FuzzEnvironment.makeCertificates(repositoryRoot: root.path)
            // The keys go with the test process.
            atexit { try? FileManager.default.removeItem(atPath: TestCertificate.directory) }
            return directory
        } catch {
            fatalError("certs/make-dev-certs.sh failed: \(error)")
        }
    }()

    static var certificate: String { directory + "/server.pem" }
    static var privateKey: String { directory + "/server.key" }
    static var ca: String { directory + "/ca.pem" }
}
