import BuildServiceProtocol
import Foundation

/// Puts events where a user expects them: build output on stdout/stderr exactly as the build
/// wrote it (after the service's lossy UTF-8), service messages on stderr with their code.
enum EventPrinter {
    static func print(_ event: BuildEvent) {
        switch event {
        case .stdout(let data): write(data, to: STDOUT_FILENO)
        case .stderr(let data): write(data, to: STDERR_FILENO)
        case .warning(let code, let message): complain("warning: \(message) (code \(code))")
        case .error(let code, let message, let pattern):
            complain("error: \(message) (code \(code)\(pattern.map { ", pattern \($0)" } ?? ""))")
        case .build, .exit: break
        }
    }

    static func complain(_ message: String) {
        write("build-cli: \(message)\n", to: STDERR_FILENO)
    }

    private static func write(_ text: String, to fd: Int32) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
