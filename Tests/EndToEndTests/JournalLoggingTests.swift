import Foundation
import Testing

/// Under systemd, stderr is the journal: lines carry their syslog priority (`<5>`) for
/// `journalctl -p` and no timestamp of their own (journald stamps each line). Elsewhere, and
/// when `JOURNAL_STREAM` names another stream than stderr, lines keep their timestamp.
@Suite struct JournalLoggingTests {
    /// Starts the daemon through a shell that sets `JOURNAL_STREAM` to `stream` (`$STDERR`:
    /// the device and inode of the daemon's own stderr, as systemd does), and returns its log
    /// once it listens.
    private func log(journalStream stream: String) async throws -> String {
        let daemon = try await DaemonUnderTest()
        await daemon.stop()
        let script = #"STDERR=$(stat -L -c %d:%i /proc/self/fd/2); export JOURNAL_STREAM="$(eval echo "$2")"; exec "$0" --config "$1""#
        let running = try TestProcess.start(
            "/bin/sh",
            ["-c", script, TestProcess.binary("build-service"), daemon.configPath, stream],
            outputDirectory: daemon.directory
        )
        #expect(await eventually { running.stderrSoFar.contains("listening") }, "\(running.stderrSoFar)")
        running.signal(SIGTERM)
        return await running.wait().stderrText
    }

    @Test func linesToTheJournalCarryTheirPriorityAndNoTimestamp() async throws {
        let lines = try await log(journalStream: "$STDERR").split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("<5>notice listening") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("<4>warning config warning") }, "\(lines)")
        #expect(lines.allSatisfy { $0.hasPrefix("<") && !$0.contains("Z notice") }, "\(lines)")
    }

    @Test func anotherStreamThanStderrKeepsTimestamps() async throws {
        let lines = try await log(journalStream: "1:2").split(separator: "\n")
        #expect(lines.contains { $0.contains("Z notice listening") }, "\(lines)")
        #expect(!lines.contains { $0.hasPrefix("<") }, "\(lines)")
    }
}
