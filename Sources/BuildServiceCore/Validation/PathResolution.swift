public import BuildServiceProtocol

/// Resolves a request's `cwd` and make's paths beneath the project root, by descriptor
/// (`ProjectTree`), and writes the command line make gets. Run at submit time and again when a
/// queued build starts.
///
/// make is never handed a name it would resolve differently from what was checked:
/// - `-C` options are not passed on: the build starts in the directory the last one names
///   (entered as its user, checked against the descriptor), opened here, and `-w` stands in for them (make prints "Entering directory"
///   for `-C` unless told not to), so a directory swapped for a symlink after the check
///   cannot take make elsewhere;
/// - `-I` becomes the canonical absolute path of an existing directory: sub-makes get it in
///   MAKEFLAGS and would resolve a relative one from their own directory;
/// - `-f`, `-o`, `-W` and targets must resolve beneath the root from that directory (or name a
///   file not there yet whose directory is); make opens them by name, so they rely on nothing
///   else writing the tree while the build starts (see docs/security.md).
public enum PathResolution {
    /// The resolved working directory: open, and as a path for logs.
    public struct WorkingDirectory: Sendable {
        public var handle: OpenDirectory
        public var absolutePath: String
        /// make's command line, when the command is make.
        public var makeArguments: [String]?
    }

    /// - Parameter makeWords: make's words as `ArgumentPolicy.check` accepted them; nil when
    ///   the command is not make.
    /// - Throws: `ServiceError` `invalid_path` naming the field or argument.
    public static func resolve(cwd: String?, makeWords: [MakeArguments.Word]?, in tree: ProjectTree) throws(ServiceError) -> WorkingDirectory {
        var directory = "."
        var handle = tree.handle
        if let cwd, !cwd.isEmpty {
            let field = "cwd \"\(RequestValidator.quoted(cwd))\""
            (directory, handle) = try openDirectory(cwd, from: ".", in: tree, naming: field)
        }
        guard let makeWords else {
            return WorkingDirectory(handle: handle, absolutePath: try nameable(handle, cwd: cwd), makeArguments: nil)
        }
        var changesDirectory = false
        for case .path(.directory, let spelling, let value) in makeWords {
            (directory, handle) = try openDirectory(value, from: directory, in: tree, naming: named(spelling, value))
            changesDirectory = true
        }
        var arguments: [String] = []
        var quiet = false
        var includeDirectories = Set<String>()
        var makeflags = MakeflagsSize()
        for word in makeWords {
            switch word {
            case .flag(let spelling):
                arguments.append(spelling)
                makeflags.add(spelling)
                if ["-s", "--silent", "--quiet", "--no-print-directory"].contains(spelling)
                    || (spelling.hasPrefix("--") && ["silent", "quiet", "no-print-directory"].contains { $0.hasPrefix(spelling.dropFirst(2)) })
                {
                    quiet = true
                }
            case .path(.directory, _, _):
                continue
            case .path(.includeDirectory, let spelling, let value):
                let (_, opened) = try openDirectory(value, from: directory, in: tree, naming: named(spelling, value))
                guard let canonical = opened.path, ArgumentPolicy.isSafe(canonical) else {
                    throw ServiceError(
                        .invalidPath,
                        "make argument \(named(spelling, value)) names a directory whose real path has characters make would pass to sub-makes unquoted"
                    )
                }
                // Once each: make keeps every repeat, and `-I.` a thousand times over would
                // grow into a thousand copies of the absolute path.
                if includeDirectories.insert(canonical).inserted {
                    arguments += ["-I", canonical]
                    makeflags.add("-I" + canonical)
                }
            case .path(let kind, let spelling, let value):
                try requireFile(value, from: directory, in: tree, naming: named(spelling, value))
                let letter =
                    switch kind {
                    case .makefile: "-f"
                    case .oldFile: "-o"
                    default: "-W"
                    }
                arguments += [letter, value]
                makeflags.add(letter + value)
            case .jobs(_, let value):
                arguments.append("-j" + (value ?? ""))
                makeflags.add(arguments.last!)
            case .loadLimit(_, let value):
                arguments.append("-l" + (value ?? ""))
                makeflags.add(arguments.last!)
            case .assignment(_, _, _, let spelling):
                arguments.append(spelling)
                makeflags.add(spelling, escapingSpaces: true)
            case .target(let target):
                try requireFile(target, from: directory, in: tree, naming: "target \"\(RequestValidator.quoted(target))\"")
                arguments.append(target)
            case .refused:
                continue  // never here: the policy refused the request
            }
        }
        if changesDirectory && !quiet { arguments.insert("-w", at: 0) }
        try makeflags.check()
        return WorkingDirectory(handle: handle, absolutePath: try nameable(handle, cwd: cwd), makeArguments: arguments)
    }

    /// The path the build is started in (by name, as its user: see `bs_spawn`). A directory the
    /// kernel cannot name in `PATH_MAX` bytes, or whose name is not UTF-8 (reached through a
    /// symlink with a plain name), could not be entered by that name: refused here, where it
    /// once failed the build at spawn after `started`.
    private static func nameable(_ handle: OpenDirectory, cwd: String?) throws(ServiceError) -> String {
        guard let path = handle.path else {
            throw ServiceError(
                .invalidPath,
                "cwd \"\(RequestValidator.quoted(cwd ?? "."))\" leads to a directory whose path is longer than the kernel allows "
                    + "(PATH_MAX) or is not UTF-8"
            )
        }
        return path
    }

    private static func openDirectory(
        _ path: String,
        from base: String,
        in tree: ProjectTree,
        naming name: String
    ) throws(ServiceError) -> (String, OpenDirectory) {
        guard let relative = tree.relative(path, from: base) else { throw outside(name) }
        switch tree.lookUp(relative, directory: true) {
        case .inside(let opened): return (relative, opened)
        case .outside: throw outside(name)
        case .missing: throw ServiceError(.invalidPath, "\(name) is not an existing directory in the project")
        }
    }

    private static func requireFile(_ path: String, from base: String, in tree: ProjectTree, naming name: String) throws(ServiceError) {
        guard let relative = tree.relative(path, from: base) else { throw outside(name) }
        switch tree.allowsFile(relative) {
        case .inside: return
        case .outside: throw outside(name)
        case .missing: throw ServiceError(.invalidPath, "\(name) names a path whose directory is not in the project")
        }
    }

    private static func named(_ spelling: String, _ value: String) -> String {
        "make argument \"\(RequestValidator.quoted(spelling))\" \"\(RequestValidator.quoted(value))\""
    }

    private static func outside(_ name: String) -> ServiceError {
        ServiceError(.invalidPath, "\(name) resolves outside the project root")
    }
}

/// What make puts in `MAKEFLAGS`, which every recipe's shell gets in its environment: the
/// flags, each `-I` directory (absolute, as resolved), `-o`/`-W` files and every variable
/// assignment (spaces escaped), `-I/dir -j2 --jobserver-auth=3,4 -- A=x\ y`. The kernel
/// refuses an environment string over `MAX_ARG_STRLEN`, so past it every recipe would fail
/// with "Argument list too long" after the build was announced: refused before, instead.
struct MakeflagsSize {
    /// make's own part (`--jobserver-auth=…`, flag letters run together, ` -- `), generously.
    private(set) var bytes = 64

    mutating func add(_ word: String, escapingSpaces: Bool = false) {
        bytes += 1 + word.utf8.count + (escapingSpaces ? word.utf8.count { $0 == UInt8(ascii: " ") } : 0)
    }

    func check() throws(ServiceError) {
        let limit = RequestSizeLimits.maxArgumentBytes - "MAKEFLAGS=".utf8.count - 1
        guard bytes <= limit else {
            throw ServiceError(
                .argsTooLarge,
                "make would pass about \(bytes) bytes of these arguments (its -I directories, as absolute paths, and variable "
                    + "assignments) to every recipe in MAKEFLAGS; the kernel takes at most \(limit) there (MAX_ARG_STRLEN): pass fewer"
            )
        }
    }
}
