import Foundation

/// No such process, or only its zombie: an orphan's zombie waits for whoever reaps it, but it
/// runs nothing any more.
func isGone(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
}
