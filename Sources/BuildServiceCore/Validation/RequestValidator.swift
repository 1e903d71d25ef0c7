public import BuildServiceProtocol

/// Checks a build request against the configuration before anything runs. Every field is
/// treated as hostile: the result only names commands from the allowlist and paths inside the
/// project root.
public struct RequestValidator: Sendable {
    public let config: ServiceConfig

    public init(config: ServiceConfig) {
        self.config = config
    }

    /// Validates `request` and resolves it into a plan.
    /// - Throws: `ServiceError` with the wire code and a message naming the offending field.
    public func plan(for request: BuildRequest) throws(ServiceError) -> BuildPlan {
        if let version = request.schemaVersion, version != "2" {
            throw ServiceError(.schemaVersion, "schema_version \"\(version)\" is not supported; use \"2\"")
        }
        try RequestSizeLimits(config.build).check(request)
        for (field, value) in [("request_id", request.requestID), ("idempotency_key", request.idempotencyKey)] {
            guard let value else { continue }
            guard Self.isPrintableLabel(value) else {
                throw ServiceError(
                    .invalidRequest,
                    "\(field) must be 1 to 256 bytes of printable text (no control, format or line-separator characters)"
                )
            }
        }
        guard let project = config.project(id: request.projectID) else {
            throw ServiceError(.projectNotFound, "no project with project_id \"\(Self.quoted(request.projectID))\"")
        }
        if request.ref != nil && project.kind == .path {
            throw ServiceError(.refNotAllowed, "ref is only allowed for repo projects; \"\(project.id)\" is a path project")
        }
        guard let executable = config.build.commands[request.command] else {
            throw ServiceError(.commandUnknown, "command \"\(Self.quoted(request.command))\" is not defined on this host")
        }
        guard project.commands.contains(request.command) else {
            throw ServiceError(.commandNotAllowed, "command \"\(request.command)\" is not allowed for project \"\(project.id)\"")
        }
        var warnings: [BuildEvent] = []
        let timeout = try timeoutSec(request.timeoutSec, warnings: &warnings)
        var plan = BuildPlan(
            projectID: project.id,
            requestID: request.requestID,
            idempotencyKey: request.idempotencyKey,
            commandName: request.command,
            executable: executable,
            arguments: request.args,
            projectRoot: "",
            workingDirectory: "",
            timeoutSec: timeout,
            warnings: warnings,
            artifactPatterns: project.artifactPatterns
        )
        let policy = argumentPolicy(command: request.command, executable: executable, project: project)
        let words = try policy.check(request.args)
        plan.makeWords = policy.make == nil ? nil : words
        plan.extraEnvironment = try RequestEnvironment.check(
            request.env,
            allowed: project.passEnvironment,
            projectID: project.id,
            allowingSpace: policy.make?.allowSpaceInValues ?? config.build.make.allowSpaceInValues
        )
        plan.requestedCwd = request.cwd
        if project.kind == .repo {
            if let ref = request.ref, let problem = GitRef.problem(with: ref) {
                throw ServiceError(.invalidRef, problem)
            }
            // The root exists only once the build's checkout does: paths are checked then.
            plan.repo = RepoSource(
                url: project.repoURL ?? "",
                ref: request.ref ?? project.repoRef ?? "HEAD",
                subdir: project.repoSubdir,
                refs: MirrorRefs(allowedPatterns: project.allowedRefs)
            )
            return plan
        }
        guard let configured = project.pathRoot, let tree = ProjectTree.open(root: configured) else {
            throw ServiceError(.pathRootInvalid, "the root directory of project \"\(project.id)\" is missing on this host")
        }
        try Self.resolvePaths(&plan, in: tree)
        return plan
    }

    /// What the original accepted as a `request_id` (and what an idempotency key may be): up to
    /// 256 bytes, spaces and non-ASCII letters included, but nothing unprintable: no control
    /// characters or line separators (a log line must stay one line) and no format characters
    /// (a right-to-left override would make the audit log show another text than was sent).
    static func isPrintableLabel(_ value: String) -> Bool {
        (1...256).contains(value.utf8.count)
            && !value.unicodeScalars.contains {
                [.control, .format, .lineSeparator, .paragraphSeparator].contains($0.properties.generalCategory)
            }
    }

    /// The argument policy of `command` in `project`: its `args` patterns, and make's policy
    /// with the project's lists where it has its own.
    func argumentPolicy(command: String, executable: String, project: ProjectConfig) -> ArgumentPolicy {
        var policy = ArgumentPolicy(commandName: command, patterns: config.build.commandArgumentPatterns[command])
        guard Self.isMake(command: command, executable: executable) else { return policy }
        var make = config.build.make
        if let variables = project.make.allowedVariables {
            make.allowedVariables = variables
            policy.variablesKey = "make.allowed_variables of project \"\(project.id)\""
        }
        if let targets = project.make.allowedTargets {
            make.allowedTargets = targets
            policy.targetsKey = "make.allowed_targets of project \"\(project.id)\""
        }
        policy.make = make
        return policy
    }

    /// Resolves the plan's working directory and make's path options beneath `tree`: at submit
    /// time for path projects, once checked out for repo projects, and again when a queued
    /// build starts (the tree may have changed meanwhile).
    /// - Throws: `ServiceError` (`invalid_path`) naming the offending value.
    public static func resolvePaths(_ plan: inout BuildPlan, in tree: ProjectTree) throws(ServiceError) {
        let resolved = try PathResolution.resolve(cwd: plan.requestedCwd, makeWords: plan.makeWords, in: tree)
        plan.projectRoot = tree.root
        plan.configuredRoot = tree.configuredRoot
        plan.workingDirectory = resolved.absolutePath
        plan.workingDirectoryHandle = resolved.handle
        plan.executedArguments = resolved.makeArguments
    }

    /// Resolves the paths of a plan whose root is a directory on disk (a checkout, or a path
    /// project's root again before a queued build starts).
    /// - Throws: `path_root_invalid` when the root is gone, `invalid_path` as `resolvePaths(_:in:)`.
    public static func resolvePaths(_ plan: inout BuildPlan, root: String) throws(ServiceError) {
        guard let tree = ProjectTree.open(root: root) else {
            throw ServiceError(.pathRootInvalid, "the root directory of project \"\(plan.projectID)\" is missing on this host")
        }
        try resolvePaths(&plan, in: tree)
    }

    private func timeoutSec(_ requested: Int?, warnings: inout [BuildEvent]) throws(ServiceError) -> Int {
        guard let requested else { return config.build.defaultTimeoutSec }
        guard requested > 0 else {
            throw ServiceError(.timeout, "timeout_sec must be a positive number of seconds, got \(requested)")
        }
        if requested > config.build.maxTimeoutSec {
            warnings.append(
                .warning(
                    code: "timeout_clamped",
                    message: "timeout_sec \(requested) is above the maximum; using \(config.build.maxTimeoutSec)"
                )
            )
            return config.build.maxTimeoutSec
        }
        return requested
    }

    static func isMake(command: String, executable: String) -> Bool {
        let base = executable.split(separator: "/").last.map(String.init) ?? executable
        return command == "make" || base == "make" || base == "gmake"
    }

    /// Request text echoed in a message, shortened so a hostile value cannot flood a log or a terminal.
    static func quoted(_ text: String) -> String {
        let limit = 200
        let cleaned = String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : Character($0) })
        return cleaned.count > limit ? String(cleaned.prefix(limit)) + "…" : cleaned
    }
}
