import BuildClient

/// What the words after build-cli's own options mean. The argument parser hands over everything
/// from the first word it does not know; a word that looks like an option there is a mistyped
/// one (`--tiemout 60 make`), never a command to send to the service, unless `--` came first.
enum CommandLineWords: Equatable {
    /// Run this command (and its arguments) as a build.
    case build([String])
    /// `status|attach|cancel|download|link ID`, with the options given after it.
    case verb(BuildManagement.Verb, String, VerbOptions)
    /// `list`, with the options given after it.
    case list(VerbOptions)

    /// Options written after a verb (`build-cli list --state running --json`), which the
    /// argument parser leaves in the captured words.
    struct VerbOptions: Equatable {
        var json = false
        var project: String?
        var state: String?
        /// `download ID DIR`.
        var directory: String?
    }
    /// `help`, `help VERB`, `VERB --help`: the text to print.
    case help(verb: BuildManagement.Verb?)
    case version

    /// Every option build-cli takes, for "did you mean" (a test checks each is in `--help`).
    static let options = [
        "--project", "--timeout", "--socket", "--endpoint", "--legacy", "--token", "--token-file", "--cacert",
        "--client-cert", "--client-key", "--download", "--force", "--no-clobber", "--env", "--ref", "--cwd", "--stall-timeout", "--request-id",
        "--idempotency-key", "--verbose", "--quiet", "--json", "--state", "--version", "--help",
    ]

    /// - Throws: `ClientError.usage` for an unknown option, or a verb without its id.
    static func parse(_ words: [String]) throws(ClientError) -> CommandLineWords {
        guard let first = words.first else { return .build([]) }
        if first == "--" { return .build(Array(words.dropFirst())) }
        switch first {
        case "-h", "--help": return .help(verb: nil)
        case "--version": return .version
        case "help":
            guard words.count > 1 else { return .help(verb: nil) }
            guard let verb = BuildManagement.Verb(rawValue: words[1]), words.count == 2 else {
                throw ClientError.usage("help takes one of \(BuildManagement.Verb.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return .help(verb: verb)
        default: break
        }
        if let verb = BuildManagement.Verb(rawValue: first) {
            if words.dropFirst().contains(where: { $0 == "--help" || $0 == "-h" }) { return .help(verb: verb) }
            if verb == .list, words.count == 1 || words[1].hasPrefix("-") {
                return .list(try verbOptions(Array(words.dropFirst()), allowed: ["--json", "--project", "--state"]))
            }
            if verb == .download, words.count == 3, words[1].hasPrefix("bld_"), !words[2].hasPrefix("-") {
                return .verb(verb, words[1], VerbOptions(directory: words[2]))
            }
            if verb != .list, words.count >= 2, words[1].hasPrefix("bld_"), words.count == 2 || words[2].hasPrefix("-") {
                return .verb(verb, words[1], try verbOptions(Array(words.dropFirst(2)), allowed: ["--json"]))
            }
            // A project command that happens to share a verb's name still runs as a build.
        }
        if first.hasPrefix("-") {
            let name = String(first.prefix { $0 != "=" })
            var message = "unknown option '\(name)'"
            if let suggestion = suggestion(for: name) { message += "; did you mean '\(suggestion)'?" }
            throw ClientError.usage(
                message + " Options go before the command; to run a command that starts with '-', put -- before it."
            )
        }
        return .build(words)
    }

    private static func verbOptions(_ words: [String], allowed: Set<String>) throws(ClientError) -> VerbOptions {
        var options = VerbOptions()
        var rest = words[...]
        while let word = rest.popFirst() {
            let (name, inline) = word.split(separator: "=", maxSplits: 1).map(String.init).splitFirst
            guard allowed.contains(name) else {
                throw ClientError.usage("'\(word)' after the verb: it takes \(allowed.sorted().joined(separator: ", "))")
            }
            if name == "--json" {
                options.json = true
                continue
            }
            guard let value = inline ?? rest.popFirst() else { throw ClientError.usage("\(name) needs a value") }
            if name == "--project" { options.project = value } else { options.state = value }
        }
        return options
    }

    /// The known option closest to `word`, when it is close enough to be a typo.
    static func suggestion(for word: String) -> String? {
        let scored = options.map { ($0, distance(word, $0)) }.min { $0.1 < $1.1 }
        guard let (option, score) = scored, score <= max(2, option.count / 4) else { return nil }
        return option
    }

    /// Levenshtein distance (insertions, deletions, substitutions; a swap counts two).
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}

extension Array where Element == String {
    /// `["--state", "running"]` from `"--state=running"` split at `=`: the name and the value.
    fileprivate var splitFirst: (String, String?) { (first ?? "", count > 1 ? self[1] : nil) }
}
