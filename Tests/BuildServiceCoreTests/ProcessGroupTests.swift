import Foundation
import Testing

@testable import BuildServiceCore

/// A build's process group once its leader has exited, looked at and signalled both ways the
/// daemon knows: through a pidfd of the leader (Linux 6.9+, the leader reaped at once) and by
/// searching /proc (older kernels, the leader kept as a zombie). Real processes in both.
@Suite struct ProcessGroupTests {
    static var ways: [Bool] { ProcessGroup.signalsThroughPidfd ? [true, false] : [false] }

    @Test(arguments: ways)
    func groupWithNobodyLeftIsEmpty(throughPidfd: Bool) throws {
        let leader = try Self.spawnSessionLeader("exit 0")
        try Self.waitUntilExited(leader)
        let group = ProcessGroup(leader: leader, throughPidfd: throughPidfd)
        let reaped = group.reapLeader()
        defer { Self.release(group, reaped: reaped) }
        #expect(reaped == throughPidfd)
        #expect(group.hasLiveMembers == false)
    }

    @Test(arguments: ways)
    func memberLeftBehindIsSeenAndReachedBySignals(throughPidfd: Bool) throws {
        let directory = try TemporaryDirectory()
        let leader = try Self.spawnSessionLeader("sleep 60 & echo $! > \(directory.path)/member; exit 0")
        try Self.waitUntilExited(leader)
        let member = try #require(
            pid_t(try String(contentsOfFile: "\(directory.path)/member", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
        )
        let group = ProcessGroup(leader: leader, throughPidfd: throughPidfd)
        let reaped = group.reapLeader()
        defer { Self.release(group, reaped: reaped) }

        #expect(group.hasLiveMembers == true)
        group.signal(SIGKILL)
        #expect(Self.waitUntilGone(member), "the member of the group survived SIGKILL to the group")
    }

    /// Only pidfd groups reap their leader early.
    @Test(.enabled(if: ProcessGroup.signalsThroughPidfd)) func aLeaderStillRunningIsNotReaped() throws {
        let leader = try Self.spawnSessionLeader("exec sleep 60")
        let group = ProcessGroup(leader: leader, throughPidfd: true)
        #expect(!group.reapLeader())
        group.signal(SIGKILL)
        try Self.waitUntilExited(leader)
        #expect(group.reapLeader())
        group.close()
    }

    /// `/bin/sh -c script` as the leader of a new session (and so of its own process group).
    private static func spawnSessionLeader(_ script: String) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc hides it from Swift).
        posix_spawnattr_setflags(&attributes, 0x80)
        var pid: pid_t = 0
        let arguments = ["/bin/sh", "-c", script]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let result = posix_spawn(&pid, "/bin/sh", nil, &attributes, &argv, environ)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EIO) }
        return pid
    }

    /// Blocks until `pid` has exited, leaving it unreaped.
    private static func waitUntilExited(_ pid: pid_t) throws {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == 0 else { throw POSIXError(.ECHILD) }
    }

    /// Whether `pid` is gone or a zombie within 5 s (an orphan's zombie waits for init).
    private static func waitUntilGone(_ pid: pid_t) -> Bool {
        for _ in 0..<250 {
            if isGone(pid) { return true }
            usleep(20_000)
        }
        return false
    }

    private static func release(_ group: ProcessGroup, reaped: Bool) {
        group.signal(SIGKILL)
        if !reaped {
            var status: Int32 = 0
            waitpid(group.id, &status, 0)
        }
        group.close()
    }
}
