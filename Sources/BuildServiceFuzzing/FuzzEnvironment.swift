package import BuildServiceCore
import BuildServiceTLS
import Foundation

/// What some targets need from outside the input: the program the config sandbox runs, and a
/// certificate for the TLS contexts. Made once per process.
package struct FuzzEnvironment: Sendable {
    package let configSandbox: TOMLParserSandbox
    package let tlsContexts: TLSFuzzing.Contexts

    /// - Parameters:
    ///   - parserProgram: a program that runs as `build-service parse-config` does.
    ///   - certificateDirectory: where `certs/make-dev-certs.sh --name server` wrote its files.
    package init(parserProgram: String, parserArguments: [String], certificateDirectory: String) throws {
        configSandbox = TOMLParserSandbox(executable: parserProgram, arguments: parserArguments)
        tlsContexts = try TLSFuzzing.Contexts(certificateDirectory: certificateDirectory)
    }

    /// Runs `certs/make-dev-certs.sh` of the repository at `root` into a new temporary
    /// directory and returns it (the caller removes it). The TLS tests' certificate too.
    package static func makeCertificates(repositoryRoot root: String) throws -> String {
        var template = Array("/tmp/bs-fuzz-certs-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        let directory = String(cString: made)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [root + "/certs/make-dev-certs.sh", "--out", directory, "--name", "server"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
        return directory
    }
}
