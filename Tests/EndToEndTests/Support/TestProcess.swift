import CBuildServiceSpawn
import Foundation
import Synchronization
import Testing

/// What a finished child process left behind.
struct ProcessResult {
    var status: Int32
    var stdout: Data
    var stderr: Data

    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// Runs real programs (the built binaries, curl, socat, make) the way a user would.
enum TestProcess {
    /// Directory holding the built executables: the one the test bundle runs from.
    static let binDirectory: URL = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent()
    }()

    static func binary(_ name: String) -> String {
        binDirectory.appendingPathComponent(name).path
    }

    /// A sanitizer's settings (scripts/sanitize.sh), which follow the run into every process it
    /// starts. The products get their own AddressSanitizer settings when the script gives them
    /// (leak checks on: the test runner's own objects are not checked).
    static let sanitizerSettings: [String: String] = {
        let inherited = ProcessInfo.processInfo.environment
        var settings = inherited.filter { $0.key.hasSuffix("SAN_OPTIONS") }
        if let products = inherited["BUILD_SERVICE_TEST_PRODUCT_ASAN_OPTIONS"] { settings["ASAN_OPTIONS"] = products }
        return settings
    }()

    /// Starts `executable` with output going to files in `directory`; the caller waits or kills.
    ///
    /// Started with the daemon's own spawn (CBuildServiceSpawn), not Foundation's Process: that
    /// learns of every child's exit on one shared thread through a socket per child, and in one
    /// CI run no test saw a child exit after the first 25 s (a test closed a descriptor twice:
    /// any of those sockets could have been the second one), so the run hung until CI gave
    /// up. Here each waiter polls its own pid. The child gets its own session, default signal dispositions (as
    /// from a shell) and no descriptor of the test process but its stdio.
    static func start(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        currentDirectory: String? = nil,
        stdin: Data? = nil,
        outputDirectory: String
    ) throws -> RunningProcess {
        let inherited = ProcessInfo.processInfo.environment
        let variables =
            environment.map { $0.merging(Self.sanitizerSettings) { mine, _ in mine } }
            ?? inherited.merging(Self.sanitizerSettings) { _, sanitizer in sanitizer }
        let id = UUID().uuidString
        let stdoutPath = "\(outputDirectory)/\(id).out"
        let stderrPath = "\(outputDirectory)/\(id).err"
        var inputPath = "/dev/null"
        if let stdin {
            inputPath = "\(outputDirectory)/\(id).in"
            guard FileManager.default.createFile(atPath: inputPath, contents: stdin) else { throw POSIXError(.EIO) }
        }
        let input = open(inputPath, O_RDONLY | O_CLOEXEC)
        let output = open(stdoutPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let errors = open(stderrPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { for descriptor in [input, output, errors] where descriptor >= 0 { close(descriptor) } }
        guard input >= 0, output >= 0, errors >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }

        let pid = try withCStrings([executable] + arguments) { argv in
            try withCStrings(variables.map { "\($0.key)=\($0.value)" }) { envp in
                try (currentDirectory ?? FileManager.default.currentDirectoryPath).withCString { cwd in
                    try executable.withCString { path in
                        var request = bs_spawn_request()
                        request.path = path
                        request.argv = argv
                        request.envp = envp
                        request.cwd = cwd
                        request.cwd_fd = -1
                        request.stdin_fd = input
                        request.stdout_fd = output
                        request.stderr_fd = errors
                        request.umask_bits = -1
                        var stage = BS_SPAWN_STAGE_NONE
                        var failure: Int32 = 0
                        let pid = bs_spawn(&request, &stage, &failure)
                        guard pid > 0 else {
                            throw POSIXError(POSIXErrorCode(rawValue: failure) ?? .EIO, userInfo: ["stage": "\(stage)", "path": executable])
                        }
                        return pid
                    }
                }
            }
        }
        return RunningProcess(pid: pid, stdoutPath: stdoutPath, stderrPath: stderrPath)
    }

    /// Runs to completion and returns status and output.
    static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        currentDirectory: String? = nil,
        stdin: Data? = nil,
        outputDirectory: String
    ) async throws -> ProcessResult {
        let running = try start(
            executable,
            arguments,
            environment: environment,
            currentDirectory: currentDirectory,
            stdin: stdin,
            outputDirectory: outputDirectory
        )
        return await running.wait()
    }

    /// `strings` as a NULL-terminated array of C strings, for the length of `body`.
    private static func withCStrings<Result>(
        _ strings: [String],
        _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) throws -> Result
    ) rethrows -> Result {
        let copies: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
        defer { for copy in copies { free(copy) } }
        return try copies.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }
}

/// A started child process, reaped by whoever waits for it.
final class RunningProcess: @unchecked Sendable {
    let pid: Int32
    let stdoutPath: String
    let stderrPath: String
    /// Its status once reaped: the exit code, or the number of the signal that ended it.
    private let ended = Mutex<Int32?>(nil)

    init(pid: Int32, stdoutPath: String, stderrPath: String) {
        self.pid = pid
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
    }

    var stdoutSoFar: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderrSoFar: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Signals the process only while it is unreaped, so its pid cannot name another process.
    func signal(_ signal: Int32) {
        ended.withLock { status in
            if status == nil { kill(pid, signal) }
        }
    }

    private func reap() -> Int32? {
        ended.withLock { status in
            if status == nil {
                var code: Int32 = -1
                var signal: Int32 = -1
                if bs_exited_already(pid, &code, &signal) == 1, bs_wait_terminated(pid, 0, &code, &signal) == 0 {
                    status = code >= 0 ? code : signal
                }
            }
            return status
        }
    }

    /// Waits for the exit. A child still running after `limit` is a hang, not a slow machine:
    /// its session is killed and the test fails, so one stuck child cannot stall the run.
    func wait(limit: Duration = .seconds(1200)) async -> ProcessResult {
        let deadline = ContinuousClock.now + limit
        var killed = false
        while reap() == nil {
            if !killed && ContinuousClock.now > deadline {
                killed = true
                Issue.record("pid \(pid) (output in \(stdoutPath)) did not exit within \(limit); killed with its session")
                kill(-pid, SIGKILL)
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return ProcessResult(
            status: reap() ?? -1,
            stdout: FileManager.default.contents(atPath: stdoutPath) ?? Data(),
            stderr: FileManager.default.contents(atPath: stderrPath) ?? Data()
        )
    }
}

/// Polls a condition, for things that happen asynchronously (a daemon starting, a process
/// dying). Not a timing assertion: the limit is generous and only bounds a hang.
func eventually(within limit: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

/// Live processes whose command line contains `marker` (zombies have an empty cmdline).
func processes(matching marker: String) -> [Int32] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    return entries.compactMap { entry -> Int32? in
        guard let pid = Int32(entry), pid != getpid(),
            let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !data.isEmpty
        else { return nil }
        let commandLine = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        return commandLine.contains(marker) ? pid : nil
    }
}

/// A number unlikely to appear in any other command line on the machine.
func uniqueMarker() -> String {
    "\(Int.random(in: 100_000...999_999)).\(Int.random(in: 100...999))"
}
