import BuildServiceConcurrency
import CBuildServiceSpawn
import Foundation
import NIOCore

/// Parses config text in a child process before the daemon parses it itself. TOMLKit's bundled
/// toml++ aborts the whole process on an assertion for some malformed input (`[[[`, `a = [}`,
/// `a = [1,}`) and recurses once per part of a dotted key (`a.a.a…` tens of thousands deep
/// overflows the stack): without this, such a file killed `check-config`, startup, and a
/// running daemon on SIGHUP, which promises to keep the old config.
///
/// The child parses exactly these bytes with a smaller stack than the daemon's own parse
/// (`ServiceConfig.parserStackBytes`), so text the child survived cannot crash the daemon.
/// Anything short of a clean verdict — a crash, a hang, an exit status that is not the
/// parser's, text it did not read to the end — refuses the text.
public struct TOMLParserSandbox: Sendable {
    /// The program that parses standard input and exits 0 (a config) or 1 (not one):
    /// `build-service parse-config`.
    public let executable: String
    public let arguments: [String]
    /// How long the child may take, writing its input included; past it, it is killed.
    public let limit: Duration

    public init(executable: String, arguments: [String], limit: Duration = .seconds(10)) {
        self.executable = executable
        self.arguments = arguments
        self.limit = limit
    }

    /// - Throws: `ConfigError` when the parser crashed, hung or ended oddly on `text`, or the
    ///   child could not be run (the text is then not trusted either).
    public func check(_ text: String) throws(ConfigError) {
        let deadline = ContinuousClock.now + limit
        // A socket, not a pipe, for the child's standard input: a write to a child that died
        // is EPIPE (MSG_NOSIGNAL), never a SIGPIPE for whoever asked for the check.
        var input: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &input) == 0 else {
            throw Self.cannotRun("socketpair", errno)
        }
        defer { close(input[1]) }
        let pid: pid_t
        do {
            defer { close(input[0]) }
            pid = try spawn(stdin: input[0])
        }
        let pidfd = bs_pidfd_open(pid)
        defer { if pidfd >= 0 { close(pidfd) } }
        let wroteAll = Self.send(text, to: input[1], until: deadline)
        shutdown(input[1], Int32(SHUT_WR))
        let ended = Self.waitForExit(pid: pid, pidfd: pidfd, until: deadline)
        if !ended { kill(pid, SIGKILL) }
        var code: Int32 = -1
        var signal: Int32 = -1
        guard bs_wait_terminated(pid, 0, &code, &signal) == 0 else {
            // SIGCHLD ignored makes the kernel reap it before we learn how it ended.
            throw Self.cannotRun("waiting for the parser", errno)
        }
        guard ended else {
            throw ConfigError(key: nil, "the TOML parser did not finish within \(limit.components.seconds) s on this file; it is not used")
        }
        if signal >= 0 {
            throw ConfigError(
                key: nil,
                "the TOML parser crashed on this file (signal \(signal)): it is malformed (look for unbalanced brackets or "
                    + "a stray character in an array or table header, such as `[[[` or `a = [}`) or nested too deep"
            )
        }
        guard wroteAll else { throw Self.cannotRun("the parser stopped reading its input", EPIPE) }
        guard code == 0 || code == 1 else { throw Self.cannotRun("the parser exited with status \(code)", EINVAL) }
    }

    /// Starts the child with the daemon's own spawn: every other descriptor closed, signals at
    /// their defaults, its own session.
    private func spawn(stdin: Int32) throws(ConfigError) -> pid_t {
        let devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        guard devnull >= 0 else { throw Self.cannotRun("/dev/null", errno) }
        defer { close(devnull) }
        var stage = BS_SPAWN_STAGE_NONE
        var failure: Int32 = 0
        // No backtrace to compute for a crash that is expected now and then.
        // A sanitizer's settings pass through (scripts/sanitize.sh): with its defaults, a
        // sanitized child would turn the crash it is here to catch into exit status 1, "not a config".
        let sanitizers = ProcessInfo.processInfo.environment.filter { $0.key.hasSuffix("SAN_OPTIONS") }.map { "\($0.key)=\($0.value)" }
        let environment = ["SWIFT_BACKTRACE=enable=no", "PATH=/usr/bin:/bin"] + sanitizers
        // The working directory is lent like the lists: "/" as the one string of a list.
        let pid = CStringArray.with([executable] + arguments) { argv in
            CStringArray.with(environment) { envp in
                CStringArray.with(["/"]) { root in
                    var request = bs_spawn_request(
                        path: argv[0],
                        argv: argv,
                        envp: envp,
                        cwd: root[0],
                        cwd_fd: -1,
                        stdin_fd: stdin,
                        stdout_fd: devnull,
                        stderr_fd: devnull,
                        change_ids: 0,
                        uid: 0,
                        gid: 0,
                        groups: nil,
                        group_count: 0,
                        umask_bits: -1,
                        limit_resources: nil,
                        limit_soft: nil,
                        limit_hard: nil,
                        limit_count: 0,
                        own_stat: nil,
                        own_stat_size: 0
                    )
                    return bs_spawn(&request, &stage, &failure)
                }
            }
        }
        guard pid > 0 else { throw Self.cannotRun("starting \(executable)", failure) }
        return pid
    }

    /// Writes all of `text` unless the child stops reading or `deadline` passes first.
    private static func send(_ text: String, to socket: Int32, until deadline: ContinuousClock.Instant) -> Bool {
        _ = fcntl(socket, F_SETFL, fcntl(socket, F_GETFL) | O_NONBLOCK)
        var text = text
        return text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let sent = Foundation.send(socket, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                if sent > 0 {
                    offset += sent
                } else if sent < 0, errno == EAGAIN || errno == EINTR {
                    guard wait(for: socket, events: POLLOUT, until: deadline) else { return false }
                } else {
                    return false
                }
            }
            return true
        }
    }

    /// Waits until the child has exited or `deadline` passes: on its pidfd, or by looking every
    /// 10 ms where the kernel gives none (before Linux 5.3, or a seccomp profile that denies it).
    private static func waitForExit(pid: pid_t, pidfd: Int32, until deadline: ContinuousClock.Instant) -> Bool {
        if pidfd >= 0 { return wait(for: pidfd, events: POLLIN, until: deadline) }
        var code: Int32 = -1
        var signal: Int32 = -1
        while ContinuousClock.now < deadline {
            if bs_exited_already(pid, &code, &signal) != 0 { return true }
            usleep(10_000)
        }
        return false
    }

    /// poll(2) on one descriptor until it is ready or `deadline` passes (true: ready or failed).
    private static func wait(for descriptor: Int32, events: Int32, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            var poller = pollfd(fd: descriptor, events: Int16(events), revents: 0)
            let ready = poll(&poller, 1, Int32(clamping: TimeAmount(saturating: left).nanoseconds / 1_000_000 + 1))
            if ready != 0 && !(ready < 0 && errno == EINTR) { return true }
        }
    }

    private static func cannotRun(_ what: String, _ code: Int32) -> ConfigError {
        ConfigError(key: nil, "cannot check the config in a separate process (\(what): \(String(cString: strerror(code)))); it is not used")
    }
}
