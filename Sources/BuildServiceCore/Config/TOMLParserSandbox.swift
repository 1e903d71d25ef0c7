import CBuildServiceSpawn
import Foundation

/// Parses config text in a child process before the daemon parses it itself. TOMLKit's bundled
/// toml++ aborts the whole process on an assertion for some malformed input (`[[[`, `a = [}`,
/// `a = [1,}`): without this, a typo in the file killed `check-config`, startup, and a running
/// daemon on SIGHUP, which promises to keep the old config. The child parses exactly the bytes
/// the daemon will parse, so once it survived them, the daemon does too.
public struct TOMLParserSandbox: Sendable {
    /// The program that parses standard input and exits (`build-service parse-config`); its
    /// exit status does not matter, only whether it was killed.
    public let executable: String
    public let arguments: [String]
    /// How long the child may take; past it, it is killed and the text refused.
    public let limit: Duration

    public init(executable: String, arguments: [String], limit: Duration = .seconds(10)) {
        self.executable = executable
        self.arguments = arguments
        self.limit = limit
    }

    /// - Throws: `ConfigError` when the parser crashed or hung on `text`, or the child could
    ///   not be run (the text is then not trusted either).
    public func check(_ text: String) throws(ConfigError) {
        // A socket, not a pipe, for the child's standard input: a write to a child that died
        // is then EPIPE (MSG_NOSIGNAL), never a SIGPIPE for whoever asked for the check.
        var input: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &input) == 0 else {
            throw Self.cannotRun("socketpair", errno)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        // A crash is expected here now and then: no backtrace to compute, nothing else inherited.
        let environment = ["SWIFT_BACKTRACE=enable=no", "PATH=/usr/bin:/bin"]
        // The caller's thread may block or handle signals: the child starts with none blocked
        // and every disposition at its default, so an abort ends it as it would a shell's child.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        var allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let spawned = CStringArray.with([executable] + arguments) { argv in
            CStringArray.with(environment) { envp in posix_spawn(&pid, executable, &actions, &attributes, argv, envp) }
        }
        close(input[0])
        guard spawned == 0 else {
            close(input[1])
            throw Self.cannotRun("spawn \(executable)", spawned)
        }
        let pidfd = bs_pidfd_open(pid)
        // The child reads everything before it parses; if it dies first the send fails.
        text.utf8CString.withUnsafeBufferPointer { bytes in
            var offset = 0
            let count = bytes.count - 1  // without the NUL
            while offset < count {
                let written = send(input[1], bytes.baseAddress! + offset, count - offset, Int32(MSG_NOSIGNAL))
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { break }
                offset += written
            }
        }
        close(input[1])
        let finished = Self.waitForExit(pidfd: pidfd, within: limit)
        if pidfd >= 0 { close(pidfd) }
        if !finished { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard finished else {
            throw ConfigError(key: nil, "the TOML parser did not finish within \(limit.components.seconds) s on this file; it is not used")
        }
        // WIFSIGNALED: the low seven bits name the signal (0 for an exit, 0x7f for a stop).
        let signal = status & 0x7f
        guard signal == 0 || signal == 0x7f else {
            throw ConfigError(
                key: nil,
                "the TOML parser crashed on this file (signal \(signal)): it is malformed, look for unbalanced brackets "
                    + "or a stray character in an array or table header (such as `[[[`, `a = [}` or `a = [1,}`)"
            )
        }
    }

    /// Waits on the child's pidfd (readable once it has exited), up to `limit`.
    private static func waitForExit(pidfd: Int32, within limit: Duration) -> Bool {
        guard pidfd >= 0 else { return true }  // no pidfd: waitpid blocks instead, unbounded
        let deadline = ContinuousClock.now + limit
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            var poller = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            let ready = poll(&poller, 1, milliseconds)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return true }
        }
    }

    private static func cannotRun(_ what: String, _ code: Int32) -> ConfigError {
        ConfigError(key: nil, "cannot check the config in a separate process (\(what): \(String(cString: strerror(code)))); it is not used")
    }
}
