/// Reads a `make` command line the way GNU make 4.3/4.4's own parser does, word by word, so
/// that the argument policy judges what make will actually do with each word: options in every
/// spelling make accepts (`-C DIR`, `-CDIR`, clustered flags `-sC DIR`, `--directory DIR`,
/// `--directory=DIR`, unambiguous prefixes `--dir=DIR`), `-j`/`-l` with their count in the same
/// or the next word, variable assignments, and targets. See `reference/MAKE-ARGUMENTS.md`.
public enum MakeArguments {
    /// One thing make reads from the command line.
    public enum Word: Equatable, Sendable {
        /// An option that only switches make's behaviour (`-k`, `--trace`, `-Oline`).
        case flag(spelling: String)
        /// An option naming a file or directory (`-C`, `-f`, `-I`, `-o`, `-W` and their long forms).
        case path(PathKind, spelling: String, value: String)
        /// `-j`/`--jobs`, with its count if it has one (none: unlimited).
        case jobs(spelling: String, value: String?)
        /// `-l`/`--load-average`/`--max-load`, with its limit if it has one.
        case loadLimit(spelling: String, value: String?)
        /// An option that passes make code or make's internal state (`--eval`, `-E`,
        /// `--jobserver-*`), unknown to make, or missing its value: never allowed.
        case refused(spelling: String, reason: String)
        /// `NAME=value` and the other assignment operators (`:=`, `::=`, `:::=`, `+=`, `?=`, `!=`).
        case assignment(name: String, operator: String, value: String, spelling: String)
        case target(String)
    }

    public enum PathKind: Sendable {
        /// `-C`: make changes into it, each relative to the previous.
        case directory
        /// `-f`: read as the makefile.
        case makefile
        /// `-I`: searched by `include`.
        case includeDirectory
        /// `-o`, `--old-file`, `--assume-old`: a file treated as old (never remade).
        case oldFile
        /// `-W`, `--what-if`, `--new-file`, `--assume-new`: a file treated as new.
        case newFile
    }

    /// Short options without a value.
    private static let shortFlags: Set<Character> = [
        "b", "B", "d", "e", "h", "i", "k", "L", "m", "n", "p", "q", "r", "R", "s", "S", "t", "v", "w",
    ]
    private static let shortPaths: [Character: PathKind] = ["C": .directory, "f": .makefile, "I": .includeDirectory, "o": .oldFile, "W": .newFile]

    private enum LongOption {
        case flag
        /// A value that is only ever attached (`--debug=a`).
        case optionalAttached
        case jobs
        case load
        case path(PathKind)
        case refused(String)
    }

    /// GNU make 4.3/4.4's long options.
    private static let longOptions: [String: LongOption] = [
        "always-make": .flag, "check-symlink-times": .flag, "dry-run": .flag, "environment-overrides": .flag,
        "ignore-errors": .flag, "just-print": .flag, "keep-going": .flag, "no-builtin-rules": .flag,
        "no-builtin-variables": .flag, "no-keep-going": .flag, "no-print-directory": .flag, "no-silent": .flag,
        "print-data-base": .flag, "print-directory": .flag, "question": .flag, "quiet": .flag, "recon": .flag,
        "silent": .flag, "stop": .flag, "touch": .flag, "trace": .flag, "version": .flag,
        "warn-undefined-variables": .flag, "help": .flag,
        "debug": .optionalAttached, "output-sync": .optionalAttached, "shuffle": .optionalAttached,
        "jobs": .jobs, "load-average": .load, "max-load": .load,
        "directory": .path(.directory), "file": .path(.makefile), "makefile": .path(.makefile),
        "include-dir": .path(.includeDirectory), "assume-new": .path(.newFile), "assume-old": .path(.oldFile),
        "new-file": .path(.newFile), "old-file": .path(.oldFile), "what-if": .path(.newFile),
        "eval": .refused("it evaluates its value as makefile text"),
        "jobserver-auth": .refused("it is make's internal state between a make and its sub-makes"),
        "jobserver-fds": .refused("it is make's internal state between a make and its sub-makes"),
        "jobserver-style": .refused("it is make's internal state between a make and its sub-makes"),
    ]

    /// Whether `value` is one make documents for an option whose value is only ever attached.
    /// Nothing else gets through: make keeps the value in MAKEFLAGS, `$` and all, and a
    /// recipe that expands `$(MAKEFLAGS)` hands it to the shell (`--debug=n$(id)` ran `id`,
    /// though make itself reads only the first letter of each word).
    private static func isKnownValue(_ value: String, of option: String) -> Bool {
        switch option {
        case "debug":
            // Letters (a, b, v, i, j, m, n, p, w, or words that start with them), comma-separated.
            let words = value.split(separator: ",", omittingEmptySubsequences: false)
            return words.allSatisfy { word in !word.isEmpty && word.utf8.allSatisfy { (0x61...0x7A).contains($0) } }
        case "output-sync":
            return ["none", "line", "target", "recurse"].contains(value)
        case "shuffle":
            return ["none", "random", "reverse"].contains(value) || (!value.isEmpty && value.utf8.allSatisfy { (0x30...0x39).contains($0) })
        default:
            return false
        }
    }

    /// The long option `name` stands for: itself, or the one option it is an unambiguous
    /// prefix of (getopt's rule); nil when unknown or ambiguous (make refuses both).
    private static func longOption(_ name: String) -> (name: String, option: LongOption)? {
        if let exact = longOptions[name] { return (name, exact) }
        guard !name.isEmpty else { return nil }
        let matches = longOptions.filter { $0.key.hasPrefix(name) }
        return matches.count == 1 ? matches.first.map { ($0.key, $0.value) } : nil
    }

    /// Every word of `arguments`, as make reads them.
    public static func parse(_ arguments: [String]) -> [Word] {
        var words: [Word] = []
        var index = 0
        var optionsEnded = false
        /// make takes the next word as `-j`/`-l`'s count only when it starts with a digit.
        func numericNext() -> String? {
            guard index < arguments.count, let first = arguments[index].first, first.isASCII, first.isNumber else { return nil }
            index += 1
            return arguments[index - 1]
        }
        func next() -> String? {
            guard index < arguments.count else { return nil }
            index += 1
            return arguments[index - 1]
        }
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if !optionsEnded, argument == "--" {
                optionsEnded = true
            } else if optionsEnded || !argument.hasPrefix("-") || argument == "-" {
                words.append(nonOption(argument))
            } else if argument.hasPrefix("--") {
                let body = argument.dropFirst(2)
                let name = String(body.prefix { $0 != "=" })
                let attached = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
                guard let (fullName, option) = longOption(name) else {
                    words.append(.refused(spelling: argument, reason: "make knows no such option (or the abbreviation is ambiguous)"))
                    continue
                }
                switch option {
                case .flag:
                    words.append(attached == nil ? .flag(spelling: argument) : .refused(spelling: argument, reason: "--\(fullName) takes no value"))
                case .optionalAttached:
                    guard let attached, !Self.isKnownValue(attached, of: fullName) else {
                        words.append(.flag(spelling: argument))
                        continue
                    }
                    words.append(.refused(spelling: argument, reason: "make takes no such value for --\(fullName)"))
                case .jobs:
                    words.append(.jobs(spelling: argument, value: attached ?? numericNext()))
                case .load:
                    words.append(.loadLimit(spelling: argument, value: attached ?? numericNext()))
                case .path(let kind):
                    if let value = attached ?? next() {
                        words.append(.path(kind, spelling: argument, value: value))
                    } else {
                        words.append(.refused(spelling: argument, reason: "it needs a value"))
                    }
                case .refused(let reason):
                    if attached == nil { _ = next() }
                    words.append(.refused(spelling: argument, reason: reason))
                }
            } else {
                shortCluster(argument, into: &words, numericNext: numericNext, next: next)
            }
        }
        return words
    }

    /// `-sk`, `-sC dir`, `-j4`, `-Oline`: flags up to the first option that takes a value,
    /// which takes the rest of the word (or the next word).
    private static func shortCluster(
        _ argument: String,
        into words: inout [Word],
        numericNext: () -> String?,
        next: () -> String?
    ) {
        var flags = Substring(argument.dropFirst())
        while let flag = flags.first {
            flags = flags.dropFirst()
            let rest = flags.isEmpty ? nil : String(flags)
            if shortFlags.contains(flag) {
                words.append(.flag(spelling: "-\(flag)"))
                continue
            }
            switch flag {
            case "j": words.append(.jobs(spelling: "-j", value: rest ?? numericNext()))
            case "l": words.append(.loadLimit(spelling: "-l", value: rest ?? numericNext()))
            case "O":
                if let rest, !isKnownValue(rest, of: "output-sync") {
                    words.append(.refused(spelling: "-O", reason: "make takes no such value for --output-sync"))
                } else {
                    words.append(.flag(spelling: "-O" + (rest ?? "")))
                }
            case "E":
                if rest == nil { _ = next() }
                words.append(.refused(spelling: "-E", reason: "it evaluates its value as makefile text"))
            default:
                if let kind = shortPaths[flag] {
                    if let value = rest ?? next() {
                        words.append(.path(kind, spelling: "-\(flag)", value: value))
                    } else {
                        words.append(.refused(spelling: "-\(flag)", reason: "it needs a value"))
                    }
                } else {
                    words.append(.refused(spelling: "-\(flag)", reason: "make knows no such option"))
                }
            }
            return
        }
    }

    /// A word that is not an option: an assignment when make would read one (the first `=`
    /// ends the name, with the operator's other characters before it), else a target.
    private static func nonOption(_ word: String) -> Word {
        guard let equals = word.firstIndex(of: "=") else { return .target(word) }
        var nameEnd = equals
        var operatorText = "="
        for marker in [":::", "::", ":", "+", "?", "!"] where word[..<equals].hasSuffix(marker) {
            nameEnd = word.index(equals, offsetBy: -marker.count)
            operatorText = marker + "="
            break
        }
        return .assignment(
            name: String(word[..<nameEnd]),
            operator: operatorText,
            value: String(word[word.index(after: equals)...]),
            spelling: word
        )
    }
}
