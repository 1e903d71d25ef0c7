import Foundation

/// A development CA and a server certificate for localhost, made once per test process by
/// `certs/make-dev-certs.sh` (the script the README's demo uses) in a temporary directory.
enum TestCertificate {
    static let directory: String = {
        var template = Array("/tmp/bs-tls-unit-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("mkdtemp failed") }
        let directory = String(cString: made)
        // Tests/BuildServiceTLSTests/TestCertificate.swift → repository root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [root.appendingPathComponent("certs/make-dev-certs.sh").path, "--out", directory, "--name", "server"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { fatalError("cannot run make-dev-certs.sh: \(error)") }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { fatalError("make-dev-certs.sh failed") }
        // The keys go with the test process.
        atexit { try? FileManager.default.removeItem(atPath: TestCertificate.directory) }
        return directory
    }()

    static var certificate: String { directory + "/server.pem" }
    static var privateKey: String { directory + "/server.key" }
    static var ca: String { directory + "/ca.pem" }
}
