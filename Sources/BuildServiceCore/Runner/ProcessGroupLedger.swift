import BuildServiceProtocol
import Foundation
import NIOCore

/// A file per running process group under `<workspace_root>/running/`, so that a daemon killed
/// with SIGKILL (or crashing) leaves a record of the builds it could not tear down, and the next
/// one can end them before it hands their projects out again. Each record holds the group id,
/// the leader's start time (so a recycled pid is never taken for the old leader) and the boot id
/// (after a reboot nothing is left).
public struct ProcessGroupLedger: Sendable {
    /// The directory, held open for the daemon's life: every record is read, written and
    /// removed through it, so whatever happens to its path (someone who can write the
    /// workspace root swapping `running` for a directory of their own between a check and a
    /// use) the records are the ones in the directory that was checked.
    private let directory: Int32

    struct Entry: Codable, Equatable {
        var pgid: Int32
        /// Clock ticks since boot, field 22 of /proc/<pid>/stat.
        var leaderStart: UInt64
        var bootID: String
        var project: String
        var command: String
    }

    /// A group an earlier run left.
    public struct Leftover: Sendable {
        public var pgid: Int32
        public var project: String
        public var command: String
    }

    /// Creates the directory (the daemon's only, 0700). A record makes the next start kill a
    /// process group, so the directory must be a real one that only the daemon's user can
    /// write: one that is a symlink or someone else's is not used.
    /// - Returns: nil when it cannot be created or trusted (the caller logs it; builds still run).
    public static func open(workspaceRoot: String) -> ProcessGroupLedger? {
        let path = workspaceRoot + "/running"
        guard (try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)) != nil else { return nil }
        let directory = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directory >= 0 else { return nil }
        var info = stat()
        guard fstat(directory, &info) == 0, info.st_uid == geteuid(), fchmod(directory, 0o700) == 0 else {
            close(directory)
            return nil
        }
        return ProcessGroupLedger(directory: directory)
    }

    /// Records a group whose leader was just spawned (written before the build's output is read).
    /// Plain system calls, no sync: it is on every build's way, and it only has to survive the
    /// daemon, not the machine (after a reboot the record is void anyway).
    /// - Parameter leaderStart: the leader's start time as it read it itself before exec; nil has
    ///   it read here, which waits until the leader's exec has finished.
    func record(pgid: pid_t, leaderStart: UInt64? = nil, project: String, command: String) {
        guard let start = leaderStart ?? Self.startTime(of: pgid), let boot = Self.bootID else { return }
        // Entry's JSON, written by hand: JSONEncoder took a tenth of a no-op build's time.
        var data = ByteBuffer(string: "{\"pgid\":\(pgid),\"leaderStart\":\(start),\"bootID\":")
        JSONText.writeString(boot, to: &data)
        data.writeString(",\"project\":")
        JSONText.writeString(project, to: &data)
        data.writeString(",\"command\":")
        JSONText.writeString(command, to: &data)
        data.writeString("}")
        // A record cut short by a crash fails to decode and is ignored: the window is a write.
        let file = openat(directory, "\(pgid)", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard file >= 0 else { return }
        _ = data.withUnsafeReadableBytes { write(file, $0.baseAddress, $0.count) }
        close(file)
    }

    /// Forgets a group once none of its processes is left.
    func remove(pgid: pid_t) {
        unlinkat(directory, "\(pgid)", 0)
    }

    /// The groups an earlier run recorded that may still have processes, their records removed
    /// (a record from before a reboot, or whose pid now belongs to another process, is only
    /// removed).
    public func takeLeftovers() -> [Leftover] {
        var leftovers: [Leftover] = []
        for name in recordNames() {
            defer { unlinkat(directory, name, 0) }
            guard let data = contents(of: name), let entry = try? JSONDecoder().decode(Entry.self, from: data),
                entry.bootID == Self.bootID, entry.pgid > 1, entry.pgid != getpgrp()
            else { continue }
            // While any process of a group lives, its id is not handed to a new process: a live
            // pid with another start time means the group is gone and the number reused.
            if let start = Self.startTime(of: entry.pgid), start != entry.leaderStart { continue }
            guard kill(-entry.pgid, 0) == 0 || errno == EPERM else { continue }
            leftovers.append(Leftover(pgid: entry.pgid, project: entry.project, command: entry.command))
        }
        return leftovers
    }

    /// The names in the directory (a duplicate of the descriptor is listed and closed).
    private func recordNames() -> [String] {
        let listing = openat(directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard listing >= 0, let stream = fdopendir(listing) else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            // Records are named by this daemon (pgids): anything else is not one.
            if let name = entry.pointee.name, name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    /// A record's bytes (records are a few hundred bytes; a link or anything else is not read).
    private func contents(of name: String) -> Data? {
        let file = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard file >= 0 else { return nil }
        defer { close(file) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(file, $0.baseAddress, $0.count) }
        return count > 0 ? Data(buffer[..<count]) : nil
    }

    /// Kills what is left of each group, waiting up to `patience` for each to go.
    /// - Returns: the groups that still have processes (stuck in the kernel, say).
    public static func end(_ leftovers: [Leftover], patience: Duration = .seconds(5)) async -> [Leftover] {
        for leftover in leftovers {
            kill(-leftover.pgid, SIGCONT)
            kill(-leftover.pgid, SIGKILL)
        }
        let deadline = ContinuousClock.now + patience
        var alive = leftovers
        while !alive.isEmpty, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
            alive = alive.filter { stillHasProcesses($0) }
        }
        return alive
    }

    public static func stillHasProcesses(_ leftover: Leftover) -> Bool {
        kill(-leftover.pgid, 0) == 0 || errno == EPERM
    }

    /// Read once: it changes only with a reboot.
    static let bootID: String? = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines)

    /// Field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces).
    /// Read on every build's way: scanned in place, without a string or an array of fields.
    static func startTime(of pid: pid_t) -> UInt64? {
        let file = Glibc.open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard file >= 0 else { return nil }
        defer { close(file) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer -> UInt64? in
            let count = read(file, buffer.baseAddress, buffer.count)
            guard count > 0 else { return nil }
            return startTime(inStat: UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// Field 22 of a /proc/<pid>/stat text: the 20th space-separated field after the last `)`,
    /// whole (a text cut short inside it has none).
    static func startTime(inStat text: UnsafeBufferPointer<UInt8>) -> UInt64? {
        guard let close = text.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        var field = 0
        var value: UInt64 = 0
        var digits = 0
        for byte in text[(close + 1)...] {
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") {
                if field == 20 { return digits > 0 ? value : nil }
                field += 1
                continue
            }
            guard field == 20 else { continue }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            digits += 1
        }
        return nil
    }
}
