public import BuildServiceProtocol
import Foundation

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
        if let requestID = request.requestID {
            guard (1...128).contains(requestID.utf8.count),
                requestID.utf8.allSatisfy({ (0x21...0x7E).contains($0) })
            else {
                throw ServiceError(.invalidRequest, "request_id must be 1 to 128 printable ASCII characters without spaces")
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
            commandName: request.command,
            executable: executable,
            arguments: request.args,
            projectRoot: "",
            workingDirectory: "",
            timeoutSec: timeout,
            warnings: warnings,
            artifactPatterns: project.artifactPatterns
        )
        let isMake = Self.isMake(command: request.command, executable: executable)
        if project.kind == .repo {
            if let ref = request.ref, let problem = GitRef.problem(with: ref) {
                throw ServiceError(.invalidRef, problem)
            }
            if isMake { try Self.refuseMakeCode(MakeArguments.pathOptions(in: request.args)) }
            // The root exists only once the build's checkout does: paths are checked then.
            plan.repo = RepoSource(
                url: project.repoURL ?? "",
                ref: request.ref ?? project.repoRef ?? "HEAD",
                subdir: project.repoSubdir,
                requestedCwd: request.cwd
            )
            return plan
        }
        let root = try projectRoot(project)
        plan.projectRoot = root
        plan.workingDirectory = try Self.workingDirectory(request.cwd, root: root)
        if isMake {
            try Self.checkMakeArguments(request.args, workingDirectory: plan.workingDirectory, root: root)
        }
        return plan
    }

    /// Repo projects, once checked out at `root`: the working directory and make's path
    /// arguments, with the same rules as for path projects.
    /// - Throws: `ServiceError` (`invalid_path`) naming the offending value.
    public static func resolvePaths(_ plan: inout BuildPlan, root: String) throws(ServiceError) {
        plan.projectRoot = root
        plan.workingDirectory = try workingDirectory(plan.repo?.requestedCwd, root: root)
        if isMake(command: plan.commandName, executable: plan.executable) {
            try checkMakeArguments(plan.arguments, workingDirectory: plan.workingDirectory, root: root)
        }
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

    private func projectRoot(_ project: ProjectConfig) throws(ServiceError) -> String {
        guard let configured = project.pathRoot, let root = ContainedPath.realpath(configured) else {
            throw ServiceError(.pathRootInvalid, "the root directory of project \"\(project.id)\" is missing on this host")
        }
        return root
    }

    private static func workingDirectory(_ cwd: String?, root: String) throws(ServiceError) -> String {
        guard let cwd, !cwd.isEmpty else { return root }
        let resolved = ContainedPath.resolve(cwd, relativeTo: root)
        guard ContainedPath.isInside(resolved, root: root) else {
            throw ServiceError(.invalidPath, "cwd \"\(Self.quoted(cwd))\" resolves outside the project root")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ServiceError(.invalidPath, "cwd \"\(Self.quoted(cwd))\" is not an existing directory in the project")
        }
        return resolved
    }

    /// make reads every `-C` relative to the previous one, and makefiles and include
    /// directories relative to the final directory.
    private static func checkMakeArguments(_ arguments: [String], workingDirectory: String, root: String) throws(ServiceError) {
        let options = MakeArguments.pathOptions(in: arguments)
        try refuseMakeCode(options)
        var directory = workingDirectory
        for option in options where option.kind == .directory {
            directory = ContainedPath.resolve(option.value, relativeTo: directory)
            try requireInside(directory, root: root, option: option)
        }
        for option in options where option.kind == .makefile || option.kind == .includeDirectory {
            try requireInside(ContainedPath.resolve(option.value, relativeTo: directory), root: root, option: option)
        }
    }

    /// `--eval`, `-E` and `MAKEFLAGS=` bring make code in from the request itself.
    private static func refuseMakeCode(_ options: [MakeArguments.PathOption]) throws(ServiceError) {
        if let code = options.first(where: { $0.kind == .code }) {
            throw ServiceError(
                .invalidRequest,
                "make argument \(Self.quoted(code.spelling)) is not allowed: it passes make code or options in a value"
            )
        }
    }

    private static func requireInside(_ path: String, root: String, option: MakeArguments.PathOption) throws(ServiceError) {
        guard ContainedPath.isInside(path, root: root) else {
            throw ServiceError(
                .invalidPath,
                "make argument \(Self.quoted(option.spelling)) \"\(Self.quoted(option.value))\" resolves outside the project root"
            )
        }
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
