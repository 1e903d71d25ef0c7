import Foundation

/// Finds the arguments of a `make` command line that name directories or files make will read,
/// in every spelling GNU make accepts: `-C DIR`, `-CDIR`, clustered flags (`-sC DIR`),
/// `--directory DIR`, `--directory=DIR`, unambiguous prefixes (`--dir=DIR`), and the same for
/// `-f`/`--file`/`--makefile` and `-I`/`--include-dir`, and makefiles named in a command-line
/// `MAKEFILES=` assignment. It also reports what can bring in make code from the request itself
/// (`--eval`/`-E`, `MAKEFLAGS=`/`MFLAGS=` assignments), which the validator refuses.
public enum MakeArguments {
    /// A path-valued option found on the command line.
    public struct PathOption: Equatable, Sendable {
        public enum Kind: Sendable {
            case directory, makefile, includeDirectory
            /// Make code or make options given as a value: refused outright.
            case code
        }
        public var kind: Kind
        /// How the user wrote the option, for error messages.
        public var spelling: String
        public var value: String
    }

    /// Short options whose argument is required (attached or the next word).
    private static let shortWithValue: Set<Character> = ["C", "f", "I", "o", "W", "E"]
    /// Short options whose argument is optional and only ever attached (`-j4`, `-l2`, `-Oline`).
    private static let shortWithOptionalValue: Set<Character> = ["j", "l", "O"]
    private enum LongValue { case none, required, optional }
    /// GNU make 4.3/4.4's long options and whether they take a value.
    private static let longOptions: [String: LongValue] = [
        "always-make": .none, "assume-new": .required, "assume-old": .required, "check-symlink-times": .none,
        "debug": .optional, "directory": .required, "dry-run": .none, "environment-overrides": .none,
        "eval": .required, "file": .required, "ignore-errors": .none, "include-dir": .required, "jobs": .optional,
        "jobserver-auth": .required, "jobserver-fds": .required, "jobserver-style": .required, "just-print": .none,
        "keep-going": .none, "load-average": .optional, "makefile": .required, "max-load": .optional,
        "new-file": .required, "no-builtin-rules": .none, "no-builtin-variables": .none, "no-keep-going": .none,
        "no-print-directory": .none, "no-silent": .none, "old-file": .required, "output-sync": .optional,
        "print-data-base": .none, "print-directory": .none, "question": .none, "quiet": .none, "recon": .none,
        "shuffle": .optional, "silent": .none, "stop": .none, "touch": .none, "trace": .none, "version": .none,
        "warn-undefined-variables": .none, "what-if": .required, "help": .none,
    ]
    private static let longPathKinds: [String: PathOption.Kind] = [
        "directory": .directory, "file": .makefile, "makefile": .makefile, "include-dir": .includeDirectory,
        "eval": .code,
    ]

    /// The options `name` can stand for: itself when it is an exact name, else every option it
    /// abbreviates (make rejects an ambiguous abbreviation, so treating it as all of them is safe).
    private static func candidates(for name: String) -> [String] {
        if longOptions[name] != nil { return [name] }
        guard !name.isEmpty else { return [] }
        return longOptions.keys.filter { $0.hasPrefix(name) }.sorted()
    }

    /// Every path option in `arguments`, in order.
    public static func pathOptions(in arguments: [String]) -> [PathOption] {
        var found: [PathOption] = []
        var index = 0
        var optionsEnded = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" {
                optionsEnded = true
                continue
            }
            if optionsEnded || !argument.hasPrefix("-") {
                // After `--` only targets and variable assignments remain; make reads both.
                found += assignmentOptions(argument)
            } else if argument.hasPrefix("--") {
                let body = argument.dropFirst(2)
                let name = String(body.prefix { $0 != "=" })
                let attached = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
                // A prefix of a path option is read as that option: make either expands it to
                // that option or rejects it as ambiguous, so checking it is always safe.
                let options = candidates(for: name)
                let pathKind = options.lazy.compactMap { longPathKinds[$0] }.first
                let takesNext = attached == nil && options.contains { longOptions[$0] == .required }
                var value = attached
                if takesNext, index < arguments.count {
                    value = arguments[index]
                    index += 1
                }
                if let pathKind, let value {
                    found.append(PathOption(kind: pathKind, spelling: argument, value: value))
                }
            } else if argument.hasPrefix("-"), argument.count > 1 {
                var flags = Substring(argument.dropFirst())
                while let flag = flags.first {
                    flags = flags.dropFirst()
                    if shortWithOptionalValue.contains(flag) { break }
                    guard shortWithValue.contains(flag) else { continue }
                    var value: String? = flags.isEmpty ? nil : String(flags)
                    if value == nil, index < arguments.count {
                        value = arguments[index]
                        index += 1
                    }
                    let kind: PathOption.Kind? =
                        switch flag {
                        case "C": .directory
                        case "f": .makefile
                        case "I": .includeDirectory
                        case "E": .code
                        default: nil
                        }
                    if let kind, let value {
                        found.append(PathOption(kind: kind, spelling: "-\(flag)", value: value))
                    }
                    break
                }
            }
        }
        return found
    }

    /// `MAKEFILES=a.mk b.mk` makes make read those files first; `MAKEFLAGS=`/`MFLAGS=` carry
    /// options. Any assignment operator counts (`=`, `:=`, `::=`, `+=`, `?=`, `!=`).
    private static func assignmentOptions(_ argument: String) -> [PathOption] {
        guard let equals = argument.firstIndex(of: "=") else { return [] }
        let name = argument[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: ":+?! \t"))
        let value = String(argument[argument.index(after: equals)...])
        switch name {
        case "MAKEFILES":
            return value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map {
                PathOption(kind: .makefile, spelling: "MAKEFILES=", value: String($0))
            }
        case "MAKEFLAGS", "MFLAGS":
            return [PathOption(kind: .code, spelling: "\(name)=", value: value)]
        default:
            return []
        }
    }
}
