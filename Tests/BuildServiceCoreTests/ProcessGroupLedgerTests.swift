import Foundation
import Testing

@testable import BuildServiceCore

/// The ledger reads only the directory it checked when it opened it.
@Suite struct ProcessGroupLedgerTests {
    /// A `sleep` leading a process group of its own (no build of ours); returns its pid.
    private static func loneGroup() throws -> pid_t {
        let pid = try ChildProcess.start("/usr/bin/setsid", ["/bin/sleep", "30"])
        // Its own group once setsid has exec'd sleep.
        for _ in 0..<200 where getpgid(pid) != pid { usleep(5000) }
        try #require(getpgid(pid) == pid)
        return pid
    }

    /// Someone who can write the workspace root swaps `running` for a directory of their own,
    /// holding a record for a live group that is no build of ours: nothing is killed.
    @Test func aDirectorySwappedInAfterTheCheckIsNeverRead() throws {
        let root = try TemporaryDirectory()
        let ledger = try #require(ProcessGroupLedger.open(workspaceRoot: root.path))
        let pid = try Self.loneGroup()
        defer {
            kill(-pid, SIGKILL)
            waitpid(pid, nil, 0)
        }

        try FileManager.default.moveItem(atPath: root.path + "/running", toPath: root.path + "/running.checked")
        try FileManager.default.createDirectory(atPath: root.path + "/running", withIntermediateDirectories: false)
        let forged = ProcessGroupLedger.Entry(
            pgid: pid,
            leaderStart: try #require(ProcessGroupLedger.startTime(of: pid)),
            bootID: try #require(ProcessGroupLedger.bootID),
            project: "p",
            command: "c"
        )
        try JSONEncoder().encode(forged).write(to: URL(fileURLWithPath: root.path + "/running/\(pid)"))

        #expect(ledger.takeLeftovers().isEmpty)
        #expect(kill(pid, 0) == 0, "the forged record's group was taken for a leftover")
        #expect(FileManager.default.fileExists(atPath: root.path + "/running/\(pid)"), "the swapped-in directory was touched")
    }

    @Test func aRecordInTheCheckedDirectoryIsALeftover() throws {
        let root = try TemporaryDirectory()
        let ledger = try #require(ProcessGroupLedger.open(workspaceRoot: root.path))
        let pid = try Self.loneGroup()
        defer {
            kill(-pid, SIGKILL)
            waitpid(pid, nil, 0)
        }
        // Names with what JSON must escape survive the hand-written record.
        let (project, command) = ("p\"q\\r é", "c\u{1}\n")
        ledger.record(pgid: pid, project: project, command: command)
        let leftovers = ledger.takeLeftovers()
        #expect(leftovers.map(\.pgid) == [pid])
        #expect(leftovers.first?.project == project && leftovers.first?.command == command)
        #expect(ledger.takeLeftovers().isEmpty, "a taken record is removed")
    }

    /// A build names its own processes (prctl, exec of a file so named): a name with `)` and
    /// spaces must not shift the fields, or a leftover's leader would never match its record.
    @Test func theStartTimeIsReadPastACommandNameWithParenthesesAndSpaces() throws {
        let stat = "4242 (evil) 1 2 3 4) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654321 1000 10 \n"
        let parsed = Array(stat.utf8).withUnsafeBufferPointer { ProcessGroupLedger.startTime(inStat: $0) }
        #expect(parsed == 987_654_321)
        for cut in [stat.prefix(40), stat.prefix(stat.count - 14)] {
            let parsed = Array(cut.utf8).withUnsafeBufferPointer { ProcessGroupLedger.startTime(inStat: $0) }
            #expect(parsed == nil, "a record cut short has no start time: \(cut)")
        }
        // A live reading: this process's own start time.
        let own = try #require(ProcessGroupLedger.startTime(of: getpid()))
        let text = try String(contentsOfFile: "/proc/self/stat", encoding: .utf8)
        let field22 = text[text.index(after: try #require(text.lastIndex(of: ")")))...].split(separator: " ")[19]
        #expect(own == UInt64(field22))
    }
}
