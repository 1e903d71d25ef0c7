import Foundation

/// Whether the process that checks a config could open the listeners it names. `check-config`
/// runs as the unit's `ExecStartPre`, inside the unit's sandbox (its read-only file system, its
/// capability bounding set), so a socket path or a port the daemon could not open stops the start
/// there with a message that says what to change, instead of a bind error and a restart loop.
public struct ListenerPlacement: Sendable {
    /// `$RUNTIME_DIRECTORY`: the unit's `RuntimeDirectory=`, the one place under /run a
    /// `ProtectSystem=strict` unit may create its socket (empty outside systemd).
    public var runtimeDirectories: [String]
    public var isRoot: Bool
    /// `CAP_NET_BIND_SERVICE` is in the effective set (root keeps it only if the unit's
    /// `CapabilityBoundingSet` lists it).
    public var canBindPrivilegedPorts: Bool
    /// `net.ipv4.ip_unprivileged_port_start`: ports below it need the capability.
    public var unprivilegedPortStart: Int
    /// nil if this process may create files in the directory, else why not (strerror text).
    public var directoryProblem: @Sendable (String) -> String?

    public init(
        runtimeDirectories: [String],
        isRoot: Bool,
        canBindPrivilegedPorts: Bool,
        unprivilegedPortStart: Int,
        directoryProblem: @escaping @Sendable (String) -> String?
    ) {
        self.runtimeDirectories = runtimeDirectories
        self.isRoot = isRoot
        self.canBindPrivilegedPorts = canBindPrivilegedPorts
        self.unprivilegedPortStart = unprivilegedPortStart
        self.directoryProblem = directoryProblem
    }

    /// This process, as the kernel and systemd describe it.
    public static func current() -> ListenerPlacement {
        let environment = ProcessInfo.processInfo.environment
        let portStart = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_unprivileged_port_start", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return ListenerPlacement(
            runtimeDirectories: (environment["RUNTIME_DIRECTORY"] ?? "").split(separator: ":").map(String.init),
            isRoot: geteuid() == 0,
            canBindPrivilegedPorts: effectiveCapabilities().map { $0 & (1 << capNetBindService) != 0 } ?? (geteuid() == 0),
            unprivilegedPortStart: portStart ?? 1024,
            directoryProblem: { directory in
                // A file where the directory should be: access would say Permission denied.
                var info = stat()
                if stat(directory, &info) == 0, info.st_mode & S_IFMT != S_IFDIR { return String(cString: strerror(ENOTDIR)) }
                return access(directory, W_OK | X_OK) == 0 ? nil : String(cString: strerror(errno))
            }
        )
    }

    /// What stops the daemon from listening (`errors`), and what may (`warnings`: the checking
    /// user is not root, so the root daemon may still manage).
    public struct Findings: Sendable, Equatable {
        public var errors: [ConfigError] = []
        public var warnings: [String] = []
    }

    /// - Parameter forDaemon: the daemon about to bind, for which every problem is an error;
    ///   otherwise `check-config`, where a directory missing outside systemd is a warning (run by
    ///   hand before the unit's first start, /run/build-service does not exist yet).
    public func check(_ config: ServiceConfig, forDaemon: Bool = false) -> Findings {
        var findings = Findings()
        if config.socket.enabled { checkSocket(path: config.socket.path, forDaemon: forDaemon, into: &findings) }
        if config.http.enabled { checkPort(config.http.listenAddress, into: &findings) }
        return findings
    }

    private func checkSocket(path: String, forDaemon: Bool, into findings: inout Findings) {
        let directory = (path as NSString).deletingLastPathComponent
        let suggestion = runtimeDirectories.first.map { " (\($0)/build.sock)" } ?? ""
        let outsideRuntimeDirectory = !runtimeDirectories.isEmpty && !runtimeDirectories.contains(directory)
        if outsideRuntimeDirectory {
            findings.warnings.append(
                "service.socket.path \"\(path)\" is outside the unit's RuntimeDirectory \(runtimeDirectories.joined(separator: ":")); under ProtectSystem=strict only that directory is writable, so put the socket there\(suggestion)"
            )
        }
        guard let problem = directoryProblem(directory) else { return }
        let missing = problem == String(cString: strerror(ENOENT))
        let message =
            "cannot create the socket in \(directory): \(problem); "
            + (outsideRuntimeDirectory
                ? "set service.socket.path to a path in the unit's RuntimeDirectory\(suggestion)"
                : "create the directory, or set service.socket.path to a directory the daemon may write (under systemd: /run/build-service/build.sock)")
        if missing && runtimeDirectories.isEmpty && !forDaemon {
            findings.warnings.append("service.socket.path: \(message) (the unit's RuntimeDirectory= makes /run/build-service at start)")
        } else if isRoot || outsideRuntimeDirectory || forDaemon {
            findings.errors.append(ConfigError(key: "service.socket.path", message))
        } else {
            findings.warnings.append("service.socket.path: \(message) (checked as user \(getuid()), not root)")
        }
    }

    private func checkPort(_ address: ListenAddress, into findings: inout Findings) {
        guard address.port != 0, address.port < unprivilegedPortStart, !canBindPrivilegedPorts else { return }
        let message =
            "port \(address.port) is below \(unprivilegedPortStart) and this process lacks CAP_NET_BIND_SERVICE; "
            + "add it to the unit's CapabilityBoundingSet (the shipped unit has it) or listen on a port from \(unprivilegedPortStart) up"
        if isRoot {
            findings.errors.append(ConfigError(key: "service.http.listen_addr", message))
        } else {
            findings.warnings.append("service.http.listen_addr: \(message) (checked as user \(getuid()), not root)")
        }
    }

    private static let capNetBindService: UInt64 = 10

    /// The `CapEff:` mask of /proc/self/status.
    static func effectiveCapabilities() -> UInt64? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            return UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        }
        return nil
    }
}
