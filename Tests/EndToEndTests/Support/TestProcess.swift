import Foundation

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
    static func start(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        currentDirectory: String? = nil,
        stdin: Data? = nil,
        outputDirectory: String
    ) throws -> RunningProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment {
            process.environment = environment.merging(Self.sanitizerSettings) { mine, _ in mine }
        } else {
            process.environment = ProcessInfo.processInfo.environment.merging(Self.sanitizerSettings) { _, sanitizer in sanitizer }
        }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let id = UUID().uuidString
        let stdoutPath = "\(outputDirectory)/\(id).out"
        let stderrPath = "\(outputDirectory)/\(id).err"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        if let stdin {
            let inputPath = "\(outputDirectory)/\(id).in"
            _ = FileManager.default.createFile(atPath: inputPath, contents: stdin)
            process.standardInput = FileHandle(forReadingAtPath: inputPath)
        } else {
            process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        }
        try process.run()
        return RunningProcess(process: process, stdoutPath: stdoutPath, stderrPath: stderrPath)
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
}

/// A started child process.
final class RunningProcess: @unchecked Sendable {
    let process: Process
    let stdoutPath: String
    let stderrPath: String

    init(process: Process, stdoutPath: String, stderrPath: String) {
        self.process = process
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
    }

    var pid: Int32 { process.processIdentifier }

    var stdoutSoFar: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderrSoFar: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    func wait() async -> ProcessResult {
        while process.isRunning {
            try? await Task.sleep(for: .milliseconds(10))
        }
        // The parent's ends of the child's stdio files: closed now, not whenever Process is freed
        // (hundreds of processes per run would otherwise push descriptors past 1024, where
        // Foundation's Process.run overruns a buffer).
        for handle in [process.standardInput, process.standardOutput, process.standardError] {
            try? (handle as? FileHandle)?.close()
        }
        return ProcessResult(
            status: process.terminationStatus,
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
