public import BuildServiceTLS
import Foundation

extension ServiceConfig {
    /// Checks everything a TOML type check cannot: values, cross-references and the file system.
    /// - Throws: `ConfigError` naming the first offending key.
    public func validate() throws(ConfigError) {
        guard socket.enabled || http.enabled else {
            throw ConfigError(key: "service", "both service.socket.enabled and service.http.enabled are false; enable at least one")
        }
        try validateSocket()
        try validateHTTP()
        try validateBuild()
        try validateArtifacts()
        try validateProjects()
        try validateLogging()
    }

    private func validateSocket() throws(ConfigError) {
        guard socket.enabled else { return }
        guard socket.path.hasPrefix("/") else {
            throw ConfigError(key: "service.socket.path", "\"\(socket.path)\" must be an absolute path")
        }
        // sockaddr_un holds 108 bytes including the terminating NUL.
        guard socket.path.utf8.count < 108 else {
            throw ConfigError(key: "service.socket.path", "longer than the 107 bytes a Unix socket path may have")
        }
        if let group = socket.group, getgrnam(group) == nil {
            throw ConfigError(key: "service.socket.group", "no group named \"\(group)\" exists on this host")
        }
        try validateAuth(socket.auth, key: "service.socket.auth")
    }

    private func validateHTTP() throws(ConfigError) {
        guard http.enabled else { return }
        if http.tls.enabled { _ = try makeTLSContext() }
        try validateAuth(http.auth, key: "service.http.auth")
        if http.auth.required, !http.tls.enabled, !http.auth.allowPlaintextHTTP, !Self.isLoopback(http.listenAddress.host) {
            throw ConfigError(
                key: "service.http.tls.enabled",
                "auth is required on \(http.listenAddress), which is not a loopback address, but TLS is off: "
                    + "tokens would cross the network in clear (the original allowed it). Enable TLS, listen on 127.0.0.1, "
                    + "or set service.http.auth.allow_plaintext_http = true to accept that"
            )
        }
    }

    /// Builds the HTTPS listener's TLS context (cert, key, chain, client CAs), so that a bad
    /// file stops startup and `check-config` with a message naming it.
    /// - Throws: `ConfigError` under `service.http.tls`.
    public func makeTLSContext() throws(ConfigError) -> TLSContext {
        let tls = http.tls
        guard tls.certPath != nil else {
            throw ConfigError(key: "service.http.tls.cert_path", "TLS is enabled but no certificate file is set")
        }
        guard tls.keyPath != nil else {
            throw ConfigError(key: "service.http.tls.key_path", "TLS is enabled but no private key file is set")
        }
        if tls.clientAuth != .none, tls.clientCAPath == nil {
            throw ConfigError(
                key: "service.http.tls.client_ca_path",
                "client_auth = \"\(tls.clientAuth.rawValue)\" needs the CA file client certificates must chain to"
            )
        }
        guard let configuration = tls.serverConfiguration else {
            throw ConfigError(key: "service.http.tls.enabled", "TLS is not enabled")
        }
        do {
            return try TLSContext(server: configuration)
        } catch {
            throw ConfigError(key: "service.http.tls", error.message)
        }
    }

    private func validateAuth(_ auth: AuthSettings, key: String) throws(ConfigError) {
        if auth.required && auth.tokens.isEmpty {
            throw ConfigError(key: "\(key).tokens", "auth is required but no tokens are configured")
        }
        for (index, token) in auth.tokens.enumerated() {
            if token.secret == .plain(Self.samplePlaceholderToken) {
                throw ConfigError(
                    key: "\(key).tokens[\(index)]",
                    "is the sample config's placeholder, which anyone who read the sample knows; make a token with `openssl rand -hex 32`"
                )
            }
            for project in token.projects ?? [] where self.project(id: project) == nil {
                throw ConfigError(key: "\(key).tokens[\(index)].projects", "no project with id \"\(project)\" is configured")
            }
        }
    }

    /// The token the first round's sample config shipped in `tokens`, working as written.
    static let samplePlaceholderToken = "change-me-to-a-long-random-token"

    /// Whether a listen host only accepts connections from this machine.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    private func validateBuild() throws(ConfigError) {
        guard build.workspaceRoot.hasPrefix("/") else {
            throw ConfigError(key: "build.workspace_root", "\"\(build.workspaceRoot)\" must be an absolute path")
        }
        for (name, path) in build.commands.sorted(by: { $0.key < $1.key }) {
            let key = "build.commands.\(name)"
            guard Self.isSafeName(name) else {
                throw ConfigError(key: key, "a command name may use letters, digits, '.', '_' and '-' only, at most 255 of them")
            }
            guard path.hasPrefix("/") else {
                throw ConfigError(key: key, "\"\(path)\" must be an absolute path (commands are never looked up in PATH)")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                access(path, X_OK) == 0
            else {
                throw ConfigError(key: key, "\"\(path)\" does not exist or is not an executable file")
            }
        }
        try validateMakeVariables(build.make.allowedVariables, key: "build.make")
        // Each number's own range is checked where the file is read (`ConfigBounds`).
        guard build.maxTimeoutSec >= build.defaultTimeoutSec else {
            throw ConfigError(key: "build.timeouts.max_sec", "must be at least build.timeouts.default_sec (\(build.defaultTimeoutSec))")
        }
        for (index, name) in build.environmentAllow.enumerated()
        where name.isEmpty || name.contains("=") || name.utf8.contains(0) {
            throw ConfigError(key: "build.environment.allow[\(index)]", "\"\(name)\" is not an environment variable name")
        }
        if build.runAsGroup != nil && build.runAsUser == nil {
            throw ConfigError(key: "build.run_as_group", "needs build.run_as_user as well")
        }
        if geteuid() == 0, build.runAsUser == nil, !build.allowRootBuilds {
            throw ConfigError(
                key: "build.run_as_user",
                "the daemon runs as root and build.run_as_user is unset, so builds would run as root "
                    + "(the original ran them so without a word); "
                    + "set run_as_user to an unprivileged user, or build.allow_root_builds = true to accept that"
            )
        }
        do {
            _ = try RunAsIdentity.resolve(user: build.runAsUser, group: build.runAsGroup)
        } catch {
            throw ConfigError(key: error.code == .runAsGroup ? "build.run_as_group" : "build.run_as_user", error.message)
        }
        if let mirrorUser = build.mirrorUser {
            let mirror: RunAsIdentity
            do {
                mirror = try RunAsIdentity.resolve(user: mirrorUser, group: nil)
            } catch {
                throw ConfigError(key: "build.mirror_user", error.message)
            }
            let builds = try? RunAsIdentity.resolve(user: build.runAsUser, group: build.runAsGroup)
            guard mirror.uid != builds?.uid else {
                throw ConfigError(key: "build.mirror_user", "must not be the user builds run as: builds would be able to change the mirrors")
            }
            guard geteuid() == 0 || mirror.uid == geteuid() else {
                throw ConfigError(key: "build.mirror_user", "only a daemon running as root can run git as another user")
            }
        }
    }

    private func validateArtifacts() throws(ConfigError) {
        guard artifacts.storageRoot.hasPrefix("/") else {
            throw ConfigError(key: "artifacts.storage_root", "\"\(artifacts.storageRoot)\" must be an absolute path")
        }
        if let base = artifacts.publicBaseURL, !(base.hasPrefix("http://") || base.hasPrefix("https://")) {
            throw ConfigError(key: "artifacts.public_base_url", "\"\(base)\" must start with http:// or https://")
        }
        if let url = http.publicURL {
            // Scheme, host and port only: page paths are appended, and the URL goes into pages.
            let rest = url.drop { $0 != ":" }.dropFirst(3)
            guard url.hasPrefix("http://") || url.hasPrefix("https://"), !rest.isEmpty,
                rest.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) })
            else {
                throw ConfigError(
                    key: "service.http.public_url",
                    "\"\(url)\" must be http:// or https:// with a host and port only, as in https://buildhost.example:8443"
                )
            }
        }
        if let file = artifacts.signingKeyFile, !file.hasPrefix("/") {
            throw ConfigError(key: "artifacts.signing_key_file", "\"\(file)\" must be an absolute path")
        }
    }

    /// Variable names a request could be allowed to set (target patterns are checked as they are read).
    private func validateMakeVariables(_ variables: [String], key: String) throws(ConfigError) {
        for (index, name) in variables.enumerated() where !MakePolicy.isAllowableName(name) {
            let why =
                MakePolicy.reservedVariables.contains(name)
                ? "\(name) changes how make itself works (shell, flags, makefiles) and cannot be allowed"
                : "\"\(name)\" is not a variable name (letters, digits and _, not starting with a digit)"
            throw ConfigError(key: "\(key).allowed_variables[\(index)]", why)
        }
    }

    /// Things a valid config allows that an operator should know about (printed by
    /// `check-config` and logged at startup).
    public var warnings: [String] {
        var warnings: [String] = []
        for (index, project) in projects.enumerated() where project.kind == .path {
            guard let root = project.pathRoot else { continue }
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) || !isDirectory.boolValue {
                warnings.append(
                    "projects[\(index)].path_root \"\(root)\" is not an existing directory now; builds of \"\(project.id)\" fail with path_root_invalid until it is"
                )
            }
        }
        for (name, path) in build.commands.sorted(by: { $0.key < $1.key }) where build.commandArgumentPatterns[name] == nil {
            guard !RequestValidator.isMake(command: name, executable: path) else { continue }
            warnings.append(
                "build.commands.\(name) accepts any arguments (paths outside the project included); write it as { path = \"\(path)\", args = [...] } to limit them"
            )
        }
        return warnings
    }

    /// Where this config, as written, makes the daemon behave unlike the original build-service
    /// on purpose (for safety), each with the original's behaviour and the key to change; one
    /// line each, printed by `check-config` and logged at startup. See docs/migrating.md.
    public var differencesFromTheOriginal: [String] {
        var lines: [String] = []
        if http.enabled && !http.listenAddressGiven {
            lines.append(
                "service.http.listen_addr is not set: listening on \(http.listenAddress), this host only (the original listened on 0.0.0.0:8080); set listen_addr = \"0.0.0.0:8080\" to serve other hosts"
            )
        }
        if socket.enabled && socket.group == nil {
            lines.append(
                "service.socket.group is not set: the socket keeps the daemon's group (the original used \"users\"); set group = \"users\" (or your build group) for containers' users to connect"
            )
        }
        let unlimited = projects.filter { $0.kind == .path && $0.maxConcurrent == nil }.map(\.id)
        if !build.maxConcurrentGiven || !unlimited.isEmpty {
            lines.append(
                "builds queue: at most \(build.maxConcurrent) run at once (build.max_concurrent)"
                    + (unlimited.isEmpty ? "" : " and one at a time per path project (projects.max_concurrent: \(unlimited.joined(separator: ", ")))")
                    + "; the original ran every request at once"
            )
        }
        return lines
    }

    private func validateProjects() throws(ConfigError) {
        var seen: Set<String> = []
        for (index, project) in projects.enumerated() {
            let key = "projects[\(index)]"
            guard Self.isSafeName(project.id) else {
                throw ConfigError(key: "\(key).id", "\"\(project.id)\" must be 1 to 255 letters, digits, '.', '_' and '-'")
            }
            guard seen.insert(project.id).inserted else {
                throw ConfigError(key: "\(key).id", "duplicate project id \"\(project.id)\"")
            }
            switch project.kind {
            case .path:
                guard let root = project.pathRoot else {
                    throw ConfigError(key: "\(key).path_root", "missing; a \"path\" project needs path_root")
                }
                guard root.hasPrefix("/") else {
                    throw ConfigError(key: "\(key).path_root", "\"\(root)\" must be an absolute path")
                }
                // A root missing now (an NFS mount not up yet at boot) is a warning, as the
                // original took it: its builds fail with path_root_invalid until it is there.
                for field in ["repo_url": project.repoURL, "repo_ref": project.repoRef, "repo_subdir": project.repoSubdir]
                where field.value != nil {
                    throw ConfigError(key: "\(key).\(field.key)", "only \"repo\" projects take \(field.key)")
                }
                if !project.allowedRefs.isEmpty {
                    throw ConfigError(key: "\(key).allowed_refs", "only \"repo\" projects take allowed_refs")
                }
            case .repo:
                guard let url = project.repoURL, !url.isEmpty else {
                    throw ConfigError(key: "\(key).repo_url", "missing; a \"repo\" project needs repo_url")
                }
                guard !url.hasPrefix("-"), !url.contains(where: { $0.isNewline || $0 == "\u{0}" }) else {
                    throw ConfigError(key: "\(key).repo_url", "\"\(url)\" is not a repository URL or path")
                }
                if let ref = project.repoRef, GitRef.problem(with: ref) != nil {
                    throw ConfigError(key: "\(key).repo_ref", GitRef.problem(with: ref)!)
                }
                for pattern in project.allowedRefs {
                    if let problem = MirrorRefs.problem(with: pattern) { throw ConfigError(key: "\(key).allowed_refs", problem) }
                }
                if let subdir = project.repoSubdir, subdir.hasPrefix("/") || subdir.split(separator: "/").contains("..") {
                    throw ConfigError(key: "\(key).repo_subdir", "\"\(subdir)\" must be a relative path inside the checkout")
                }
                if project.pathRoot != nil {
                    throw ConfigError(key: "\(key).path_root", "only \"path\" projects take path_root")
                }
                guard FileManager.default.isExecutableFile(atPath: build.gitPath) else {
                    throw ConfigError(
                        key: "build.git_path",
                        "\(build.gitPath) is not an executable git (repo projects need git: apt-get install git)"
                    )
                }
            }
            guard !project.commands.isEmpty else {
                throw ConfigError(key: "\(key).commands", "list at least one command from build.commands")
            }
            for (commandIndex, command) in project.commands.enumerated() where build.commands[command] == nil {
                throw ConfigError(key: "\(key).commands[\(commandIndex)]", "\"\(command)\" is not defined in build.commands")
            }
            try validateMakeVariables(project.make.allowedVariables ?? [], key: "\(key).make")
            for (nameIndex, name) in project.passEnvironment.enumerated() {
                if let problem = RequestEnvironment.problem(withName: name) {
                    throw ConfigError(key: "\(key).pass_environment[\(nameIndex)]", "\"\(name)\" \(problem)")
                }
            }
            for (patternIndex, pattern) in project.artifacts.enumerated() {
                do {
                    _ = try ArtifactPattern(pattern)
                } catch {
                    throw ConfigError(key: "\(key).artifacts[\(patternIndex)]", error.description)
                }
            }
        }
    }

    private func validateLogging() throws(ConfigError) {
        if let directory = logging.directory, !directory.hasPrefix("/") {
            throw ConfigError(key: "logging.directory", "\"\(directory)\" must be an absolute path")
        }
    }

    /// The longest project id or command name: a file name's limit (requests naming a longer
    /// one are refused as `field_too_long`, see `RequestSizeLimits`).
    public static let maxNameBytes = 255

    /// Names that appear in paths, logs and URLs: a conservative alphabet, no leading dot, at
    /// most `maxNameBytes`.
    static func isSafeName(_ name: String) -> Bool {
        guard name.utf8.count <= maxNameBytes, let first = name.unicodeScalars.first, first != ".", first != "-" else { return false }
        return name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "._-".unicodeScalars.contains(scalar))
        }
    }
}
