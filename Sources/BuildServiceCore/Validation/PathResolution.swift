public import BuildServiceProtocol

/// Resolves a request's `cwd` and make's path-valued options beneath the project root, by
/// descriptor (`ProjectTree`): the working directory comes back open, for the build to be
/// started in with `fchdir`. Run at submit time and again when a queued build starts.
public enum PathResolution {
    /// The resolved working directory: open, and as a path for logs.
    public struct WorkingDirectory: Sendable {
        public var handle: OpenDirectory
        /// Relative to the root ("." for the root itself).
        public var relativePath: String
        public var absolutePath: String
    }

    /// - Throws: `ServiceError` `invalid_path` naming the field or argument.
    public static func resolve(cwd: String?, makePaths: [ArgumentPolicy.PathArgument], in tree: ProjectTree) throws(ServiceError) -> WorkingDirectory
    {
        let relativeCwd: String
        let handle: OpenDirectory
        if let cwd, !cwd.isEmpty {
            guard let relative = tree.relative(cwd) else {
                throw ServiceError(.invalidPath, "cwd \"\(RequestValidator.quoted(cwd))\" resolves outside the project root")
            }
            switch tree.lookUp(relative, directory: true) {
            case .inside(let opened):
                handle = opened
            case .outside:
                throw ServiceError(.invalidPath, "cwd \"\(RequestValidator.quoted(cwd))\" resolves outside the project root")
            case .missing:
                throw ServiceError(.invalidPath, "cwd \"\(RequestValidator.quoted(cwd))\" is not an existing directory in the project")
            }
            relativeCwd = relative
        } else {
            relativeCwd = "."
            handle = tree.handle
        }
        try checkMakePaths(makePaths, from: relativeCwd, in: tree)
        return WorkingDirectory(handle: handle, relativePath: relativeCwd, absolutePath: handle.path ?? tree.root)
    }

    /// make reads every `-C` relative to the previous one, and files and include directories
    /// relative to the final directory: the joined path, resolved from the root, is what make
    /// will reach (the kernel applies `..` to the resolved directory, as make's chdir does).
    private static func checkMakePaths(_ paths: [ArgumentPolicy.PathArgument], from cwd: String, in tree: ProjectTree) throws(ServiceError) {
        var directory = cwd
        for path in paths where path.kind == .directory {
            guard let joined = tree.relative(path.value, from: directory) else { throw outside(path) }
            switch tree.lookUp(joined, directory: true) {
            case .inside: directory = joined
            case .outside: throw outside(path)
            case .missing:
                throw ServiceError(.invalidPath, "make argument \(spelled(path)) names no directory in the project")
            }
        }
        for path in paths where path.kind != .directory {
            guard let joined = tree.relative(path.value, from: directory) else { throw outside(path) }
            switch tree.allowsFile(joined) {
            case .inside: continue
            case .outside: throw outside(path)
            case .missing:
                throw ServiceError(.invalidPath, "make argument \(spelled(path)) names a path whose directory is not in the project")
            }
        }
    }

    private static func spelled(_ path: ArgumentPolicy.PathArgument) -> String {
        "\"\(RequestValidator.quoted(path.spelling))\" \"\(RequestValidator.quoted(path.value))\""
    }

    private static func outside(_ path: ArgumentPolicy.PathArgument) -> ServiceError {
        ServiceError(.invalidPath, "make argument \(spelled(path)) resolves outside the project root")
    }
}
