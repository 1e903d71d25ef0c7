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

    /// Whether any member is still running. Zombies do not count: they are dead, only unreaped
    /// (the leader stays one on purpose until the group is gone, so its id cannot be reused).
    var hasLiveMembers: Bool {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return false }
        for entry in entries where entry.first?.isNumber == true {
            guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8) else { continue }
            // "pid (comm) state ppid pgrp ...": comm may contain anything, so parse after the last ')'.
            guard let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[0] != "Z", fields[0] != "X", pid_t(fields[2]) == id else { continue }
            return true
        }
        return false
    }
}
