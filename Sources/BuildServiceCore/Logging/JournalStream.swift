import Foundation
public import Logging

/// Whether standard error is connected to systemd's journal: systemd sets `JOURNAL_STREAM` to
/// `<device>:<inode>` of the stream it gave the service (systemd.exec(5)), and the variable is
/// only believed while standard error is that very stream (a child the daemon's output was
/// redirected away from must not think it writes to the journal).
public enum JournalStream {
    public static func isStandardError() -> Bool {
        guard let value = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(STDERR_FILENO, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }

    /// The syslog priority journald reads from a line's `<N>` prefix (sd-daemon(3)).
    public static func priority(of level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
