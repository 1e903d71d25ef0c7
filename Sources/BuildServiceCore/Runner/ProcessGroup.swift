import CBuildServiceSpawn
import Foundation

/// A build's process group: the leader started the session, and every descendant that did not
/// start its own session is in it. Signals go to the whole group.
///
/// Where the kernel can signal a group through a pidfd (Linux 6.9+), the group is named by a
/// pidfd of its leader: the leader can then be reaped as soon as it exits, and asking whether
/// the group is empty is one system call. Elsewhere the leader stays an unreaped zombie until
/// the group is gone (so its id cannot be reused) and /proc is searched for members.
final class ProcessGroup: Sendable {
    let id: pid_t
    /// The leader's pidfd, on kernels that signal groups through one; closed by `close()`.
    let leader: Int32?

    static let signalsThroughPidfd = bs_pidfd_group_signals_supported() == 1

    /// - Parameter throughPidfd: whether to name the group by a pidfd (where the kernel can).
    init(leader pid: pid_t, throughPidfd: Bool = signalsThroughPidfd) {
        id = pid
        let pidfd = throughPidfd ? bs_pidfd_open(pid) : -1
        leader = pidfd >= 0 ? pidfd : nil
    }

    /// Whether the leader may be reaped before the group is gone.
    var canReapLeaderEarly: Bool { leader != nil }

    func signal(_ signal: Int32) {
        if let leader {
            _ = bs_pidfd_signal_group(leader, signal)
        } else {
            _ = kill(-id, signal)
        }
    }

    /// SIGTERM, plus SIGCONT so that a stopped member can act on it (as systemd does).
    func terminate() {
        signal(SIGTERM)
        signal(SIGCONT)
    }

    /// Reaps the exited leader (pidfd groups only). Returns whether it was reaped.
    func reapLeader() -> Bool {
        guard let leader else { return false }
        return bs_reap_pidfd(leader) == 0
    }

    /// Whether any member other than the leader is still there, once the leader has exited
    /// (and, for pidfd groups, been reaped). nil when that cannot be found out.
    var hasLiveMembers: Bool? {
        if let leader {
            if bs_pidfd_signal_group(leader, 0) == 0 { return true }
            return errno == ESRCH ? false : nil
        }
        switch bs_process_group_has_live_members(id) {
        case 0: return false
        case 1: return true
        default: return nil
        }
    }

    /// Releases the pidfd; the group is not signalled afterwards.
    func close() {
        if let leader { _ = Foundation.close(leader) }
    }
}
