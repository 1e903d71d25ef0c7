public import BuildServiceProtocol

/// A request's `env`: variables the client sets for its build, as `CFLAGS=-O0 make` does in a
/// container. Only names the project lists in `pass_environment` pass. Their values are held to
/// make's safe characters, since make imports the environment as variables and expands
/// `$(shell …)` in them wherever a recipe uses one; names that change how programs are loaded
/// or how a shell or make starts can never be listed.
public enum RequestEnvironment {
    public static let maxVariables = 64
    public static let maxNameBytes = 128
    public static let maxValueBytes = 4096

    /// Names that decide what runs rather than what is built: the loader, shells' start-up,
    /// the identity the daemon sets, interpreters' injected options, and every variable make
    /// gives a meaning of its own (`MakePolicy.reservedVariables`: make imports the environment,
    /// so `VPATH=/elsewhere` in it sends make looking for prerequisites outside the project).
    static let forbiddenNames: Set<String> = MakePolicy.reservedVariables.union([
        "PATH", "SHELL", "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "IFS", "PS4", "PROMPT_COMMAND", "CDPATH",
        "GLOBIGNORE", "HOME", "USER", "LOGNAME", "MAKE_RESTARTS", "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES",
        "RESOLV_HOST_CONF", "PERL5OPT", "PERL5LIB", "PERLLIB", "PYTHONSTARTUP", "PYTHONPATH", "PYTHONHOME", "NODE_OPTIONS",
        "NODE_PATH", "RUBYOPT", "RUBYLIB", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
    ])
    /// Families of the same kind: `LD_PRELOAD`, exported shell functions, git's configuration
    /// (`GIT_CONFIG_*`, `GIT_SSH_COMMAND`), the client's own settings.
    static let forbiddenPrefixes = ["LD_", "BASH_FUNC_", "GIT_", "BUILD_SERVICE_"]

    /// Why `name` can never be passed to a build (nil when it can be listed).
    public static func problem(withName name: String) -> String? {
        guard MakePolicy.isIdentifier(name), name.utf8.count <= maxNameBytes else {
            return "is not a variable name (a letter or _, then letters, digits and _, at most \(maxNameBytes) bytes)"
        }
        if forbiddenNames.contains(name) || forbiddenPrefixes.contains(where: name.hasPrefix) {
            return "changes how programs are found, loaded or started, not what is built, and is never passed to a build"
        }
        return nil
    }

    /// Checks `env` against `allowed` (the project's `pass_environment`) and returns it as
    /// `NAME=value` strings, in name order.
    /// - Throws: `ServiceError` `env_not_allowed` naming the variable and what to do.
    public static func check(
        _ env: [String: String]?,
        allowed: [String],
        projectID: String,
        allowingSpace: Bool
    ) throws(ServiceError) -> [String] {
        guard let env, !env.isEmpty else { return [] }
        guard env.count <= maxVariables else {
            throw ServiceError(.envNotAllowed, "env holds \(env.count) variables; at most \(maxVariables) are passed")
        }
        var strings: [String] = []
        for (name, value) in env.sorted(by: { $0.key < $1.key }) {
            let shown = "environment variable \"\(RequestValidator.quoted(name))\""
            if let problem = problem(withName: name) {
                throw ServiceError(.envNotAllowed, "\(shown) \(problem)")
            }
            guard allowed.contains(name) else {
                throw ServiceError(
                    .envNotAllowed,
                    "\(shown) is not passed to builds of project \"\(projectID)\"; the operator can add it to that project's pass_environment"
                )
            }
            guard value.utf8.count <= maxValueBytes else {
                throw ServiceError(.envNotAllowed, "the value of \(shown) is longer than \(maxValueBytes) bytes")
            }
            guard ArgumentPolicy.isSafe(value, allowingSpace: allowingSpace) else {
                let space = allowingSpace ? "" : ", spaces (build.make.allow_space_in_values)"
                throw ServiceError(
                    .envNotAllowed,
                    "the value of \(shown) may only hold letters, digits and _-.,/:=+% (make expands $ in it; no quotes, shell characters\(space))"
                )
            }
            strings.append("\(name)=\(value)")
        }
        return strings
    }
}
