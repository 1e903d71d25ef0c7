import Foundation
import NIOConcurrencyHelpers

/// An append-only log file that is rotated when it reaches `maxBytes`: `build-service.log`
/// becomes `build-service.log.1`, older ones shift up, and at most `maxFiles` files are kept.
public final class RotatingLogFile: Sendable {
    private struct State {
        var fd: Int32
        var size: Int
    }

    private let path: String
    private let maxBytes: Int
    private let maxFiles: Int
    private let state: NIOLockedValueBox<State>

    /// Opens (creating, mode 0640) `directory/build-service.log`.
    /// - Throws: when the directory cannot be created or the file cannot be opened.
    public init(directory: String, maxBytes: Int, maxFiles: Int) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.path = directory + "/build-service.log"
        self.maxBytes = maxBytes
        self.maxFiles = maxFiles
        let fd = try Self.open(path)
        var info = stat()
        fstat(fd, &info)
        self.state = NIOLockedValueBox(State(fd: fd, size: Int(info.st_size)))
    }

    deinit {
        _ = state.withLockedValue { close($0.fd) }
    }

    /// Appends one line (UTF-8, with its newline); rotates first if it would not fit.
    public func write(_ bytes: [UInt8]) {
        state.withLockedValue { state in
            if state.size > 0 && state.size + bytes.count > maxBytes {
                rotate(&state)
            }
            let written = bytes.withUnsafeBytes { Foundation.write(state.fd, $0.baseAddress, $0.count) }
            if written > 0 { state.size += written }
        }
    }

    private func rotate(_ state: inout State) {
        close(state.fd)
        if maxFiles > 1 {
            for index in stride(from: maxFiles - 1, to: 1, by: -1) {
                rename("\(path).\(index - 1)", "\(path).\(index)")
            }
            rename(path, "\(path).1")
        } else {
            unlink(path)
        }
        state.fd = (try? Self.open(path)) ?? -1
        state.size = 0
    }

    private static func open(_ path: String) throws -> Int32 {
        let fd = Foundation.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO, userInfo: [NSFilePathErrorKey: path])
        }
        return fd
    }
}
