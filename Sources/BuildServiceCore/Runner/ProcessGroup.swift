import CBuildServiceSpawn
import Foundation

/// A build's process group: the leader started the session, and every descendant that did not
/// start its own session is in it. Signals go to the whole group.
struct ProcessGroup: Sendable {
    let id: pid_t

    func signal(_ signal: Int32) {
        _ = kill(-id, signal)
    }

    /// SIGTERM, plus SIGCONT so that a stopped member can act on it (as systemd does).
    func terminate() {
        signal(SIGTERM)
        signal(SIGCONT)
    }

    /// Whether any member other than the leader is still there, once the leader has exited (it
    /// stays an unreaped zombie on purpose until the group is gone, so its id cannot be reused).
    /// nil when /proc cannot be read.
    var hasLiveMembers: Bool? {
        switch bs_process_group_has_live_members(id) {
        case 0: false
        case 1: true
        default: nil
        }
    }
}
