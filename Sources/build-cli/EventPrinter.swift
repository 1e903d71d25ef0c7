import BuildServiceProtocol
import FoundationEssentials
import Glibc

/// Puts events where a user expects them: build output on stdout/stderr exactly as the build
/// wrote it (after the service's lossy UTF-8), service messages on stderr with their code.
enum EventPrinter {
    static func print(_ event: BuildEvent) {
        switch event {
        case .stdout(let data): write(Array(data.utf8), to: STDOUT_FILENO)
        case .stderr(let data): write(Array(data.utf8), to: STDERR_FILENO)
        case .warning(let code, let message): complain("warning: \(message) (code \(code))")
        case .error(let code, let message, let pattern):
            complain("error: \(message) (code \(code)\(pattern.map { ", pattern \($0)" } ?? ""))")
        case .build, .exit, .heartbeat: break
        }
    }

    static func complain(_ message: String) {
        write(Array("build-cli: \(message)\n".utf8), to: STDERR_FILENO)
    }

    /// Writes all of `bytes` (a build's output, exactly as received).
    static func write(_ bytes: [UInt8], to fd: Int32) {
        bytes.withUnsafeBufferPointer { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
