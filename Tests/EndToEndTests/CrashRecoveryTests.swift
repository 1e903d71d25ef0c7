import Foundation
import Testing

/// A daemon killed with SIGKILL cannot tear its builds down: the next one ends them (from the
/// ledger under `workspace_root/running`) before it hands their project out again.
@Suite struct CrashRecoveryTests {
    /// Alive and not a zombie (an orphan's parent may be slow to reap it).
    private static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
            return false
        }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }

    @Test func buildsAKilledDaemonLeftAreEndedAtTheNextStartAndTheNextBuildRunsAlone() async throws {
        let daemon = try await DaemonUnderTest()
        let pidFile = daemon.directory + "/pids"
        // The build's shell and a grandchild, each writing its pid; neither ends by itself.
        let script = "sleep 300 & echo $! >> \(pidFile); echo $$ >> \(pidFile); wait"
        let client = try daemon.startBuild(requestJSON(["command": "sh", "args": ["-c", script]]))
        var pids: [Int32] = []
        #expect(
            await eventually {
                pids = ((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int32($0) }
                return pids.count == 2
            }
        )
        // The group's record is written just after the spawn, which a loaded machine can let
        // the build's own output overtake: wait for it, as a kill later on would find it.
        let ledger = daemon.directory + "/workspaces/running"
        #expect(await eventually { ((try? FileManager.default.contentsOfDirectory(atPath: ledger)) ?? []).count == 1 })
        daemon.signal(SIGKILL)
        await daemon.stop()
        _ = await client.wait()
        // What the kill left: the build runs on, with no daemon and no timeout.
        #expect(pids.allSatisfy(Self.isAlive), "\(pids)")

        try await daemon.start()
        #expect(await eventually { !pids.contains(where: Self.isAlive) }, "\(pids) outlived the restart")
        #expect(daemon.log.contains("ending a build an earlier run left running"), "\(daemon.log)")
        // The next build of the project runs alone, and its group leaves no record behind.
        let next = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", "pgrep -f 'slee[p] 300' | wc -l"]]))
        let events = try parseEvents(next.body)
        #expect(events.filter { $0["type"] as? String == "stdout" }.compactMap { $0["data"] as? String }.joined() == "0\n", "\(events)")
        #expect(events.last?["code"] as? Int == 0)
        #expect(await eventually { ((try? FileManager.default.contentsOfDirectory(atPath: ledger)) ?? ["?"]).isEmpty })
        for pid in pids where Self.isAlive(pid) { kill(pid, SIGKILL) }
        await daemon.stop()
    }
}

extension CrashRecoveryTests {
    /// A record makes the next start kill a process group: a ledger directory that is not the
    /// daemon's own real directory (here a symlink to a directory anyone may write) is not used,
    /// and the daemon says so.
    @Test func aLedgerDirectoryThatIsNotTheDaemonsOwnIsNotTrusted() async throws {
        let daemon = try await DaemonUnderTest()
        await daemon.stop()
        let ledger = daemon.directory + "/workspaces/running"
        let elsewhere = daemon.directory + "/world-writable"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        chmod(elsewhere, 0o1777)
        try? FileManager.default.removeItem(atPath: ledger)
        try FileManager.default.createSymbolicLink(atPath: ledger, withDestinationPath: elsewhere)
        // A forged record naming a group that is alive: a sleep in a session of its own.
        let sleeper = try TestProcess.start("/bin/sleep", ["30"], outputDirectory: daemon.directory)
        let victim = sleeper.pid
        defer { kill(victim, SIGKILL) }
        var stat = ""
        #expect(
            await eventually {
                stat = (try? String(contentsOfFile: "/proc/\(victim)/stat", encoding: .utf8)) ?? ""; return stat.contains("(sleep)")
            }
        )
        // Its leader's real start time: the record is as good as one the daemon would write.
        let close = try #require(stat.lastIndex(of: ")"))
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        try #require(fields.count > 19)
        // Its own process group (Foundation starts children so), as a build's would be.
        try #require(fields[2] == Substring(String(victim)), "\(stat)")
        let start = fields[19]
        let bootID = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let record = #"{"pgid":\#(victim),"leaderStart":\#(start),"bootID":"\#(bootID)","project":"demo","command":"sh"}"#
        try record.write(toFile: elsewhere + "/\(victim)", atomically: false, encoding: .utf8)
        try await daemon.start()
        #expect(await eventually { daemon.log.contains("cannot record running builds") }, "\(daemon.log)")
        #expect(Self.isAlive(victim), "a forged record killed a process")
        await daemon.stop()
    }
}
