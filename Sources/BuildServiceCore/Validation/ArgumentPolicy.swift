public import BuildServiceProtocol

/// The argument policy of one command for one project, applied to a request's `args` before
/// anything runs. For every command with an `args` list in `build.commands`, each argument
/// must match one of its patterns. For make, on top of that, every word is read as make reads
/// it (`MakeArguments`): variables only by name from the allowed list and with safe values,
/// targets from the allowed patterns (or safe names), `-j`/`-l` with a number, no make code.
/// make's accepted words are returned for `PathResolution` to resolve beneath the project root
/// and to write make's command line from.
public struct ArgumentPolicy: Sendable {
    public var commandName: String
    /// `build.commands.<name>.args`, when the command has the table form.
    public var patterns: [ArgumentPattern]?
    /// Set when the command is make.
    public var make: MakePolicy?
    /// The config keys that would allow a refused variable or target (for the messages).
    public var variablesKey = "build.make.allowed_variables"
    public var targetsKey = "build.make.allowed_targets"

    public init(commandName: String, patterns: [ArgumentPattern]? = nil, make: MakePolicy? = nil) {
        self.commandName = commandName
        self.patterns = patterns
        self.make = make
    }

    /// Characters a make variable's value, a target or a path may hold: nothing a shell or make
    /// reads as anything but a plain word (no `$`, quotes, `;&|<>()`, backquote, backslash, `#`,
    /// `~`, `@`, globs or whitespace). make pastes all of them into shell command lines unquoted:
    /// values through variables, targets and missing makefiles as `$@`, `-I` through MAKEFLAGS.
    package static func isSafe(_ text: String, allowingSpace: Bool = false) -> Bool {
        text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            case UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: ","), UInt8(ascii: "/"), UInt8(ascii: ":"),
                UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "%"):
                true
            case UInt8(ascii: " "): allowingSpace
            default: false
            }
        }
    }

    /// Checks `arguments` and, for make, returns its words (all of them allowed), in order.
    /// - Throws: `ServiceError` `argument_not_allowed` (or `invalid_path` for a `~` path)
    ///   naming the argument and the key that would allow it.
    public func check(_ arguments: [String]) throws(ServiceError) -> [MakeArguments.Word] {
        if let patterns {
            for (position, argument) in arguments.enumerated() where !patterns.contains(where: { $0.matches(argument) }) {
                throw ServiceError(
                    .argumentNotAllowed,
                    "argument \(position + 1) \"\(RequestValidator.quoted(argument))\" of \(commandName) matches none of the patterns in build.commands.\(commandName).args"
                )
            }
        }
        guard let make else { return [] }
        let words = MakeArguments.parse(arguments)
        for word in words {
            switch word {
            case .flag:
                continue
            case .path(_, let spelling, let value):
                if value.hasPrefix("~") {
                    throw ServiceError(
                        .invalidPath,
                        "make argument \(Self.quoted(spelling)) \"\(RequestValidator.quoted(value))\" starts with ~, which make expands to a home directory outside the project"
                    )
                }
                if value.isEmpty { throw ServiceError(.invalidPath, "make argument \(Self.quoted(spelling)) has an empty path") }
                guard Self.isSafe(value) else {
                    throw refusal(spelling, "the path may only hold letters, digits and _-.,/:=+% (make pastes it into shell commands)")
                }
            case .jobs(let spelling, let value):
                guard let value, let jobs = Int(value), value.utf8.allSatisfy({ (48...57).contains($0) }), (1...make.maxJobs).contains(jobs) else {
                    throw refusal(
                        spelling,
                        "needs a number of jobs from 1 to \(make.maxJobs) (without one make starts any number at once); the cap is build.make.max_jobs"
                    )
                }
            case .loadLimit(let spelling, let value):
                guard let value, Self.isDecimal(value) else { throw refusal(spelling, "needs a number (the load average limit)") }
            case .refused(let spelling, let reason):
                throw refusal(spelling, reason)
            case .assignment(let name, let assignment, let value, let spelling):
                try checkAssignment(name: name, operator: assignment, value: value, spelling: spelling, policy: make)
            case .target(let target):
                try checkTarget(target, policy: make)
            }
        }
        return words
    }

    private func checkAssignment(name: String, operator assignment: String, value: String, spelling: String, policy: MakePolicy) throws(ServiceError)
    {
        guard MakePolicy.isAllowableName(name), policy.allowedVariables.contains(name) else {
            let why =
                MakePolicy.reservedVariables.contains(name)
                ? "\(name) changes how make itself works and can never be set by a request"
                : "command-line variables are make code; only names in \(variablesKey) may be set"
            throw refusal(spelling, why)
        }
        // `!=` runs its value as a shell command; the others only store or append it.
        guard ["=", ":=", "::=", "+=", "?="].contains(assignment) else {
            throw refusal(spelling, "the \(assignment) operator is not allowed (it runs or re-expands the value); use =")
        }
        guard Self.isSafe(value, allowingSpace: policy.allowSpaceInValues) else {
            let space = policy.allowSpaceInValues ? "" : ", spaces (build.make.allow_space_in_values)"
            throw refusal(spelling, "the value of \(name) may only hold letters, digits and _-.,/:=+% (no $, quotes, shell characters\(space))")
        }
    }

    private func checkTarget(_ target: String, policy: MakePolicy) throws(ServiceError) {
        let plain =
            !target.isEmpty && Self.isSafe(target) && !target.hasPrefix("-") && !target.hasPrefix("/")
            && !target.split(separator: "/").contains("..")
        guard plain else {
            throw refusal(target, "a target may only be a relative name of letters, digits and _-.,/:+% (make pastes it into recipes as $@)")
        }
        if let allowed = policy.allowedTargets, !allowed.contains(where: { $0.matches(target) }) {
            throw refusal(target, "the target is not in \(targetsKey)")
        }
    }

    private func refusal(_ spelling: String, _ why: String) -> ServiceError {
        ServiceError(.argumentNotAllowed, "make argument \(Self.quoted(spelling)) is not allowed: \(why)")
    }

    private static func quoted(_ text: String) -> String {
        "\"\(RequestValidator.quoted(text))\""
    }

    private static func isDecimal(_ text: String) -> Bool {
        var dots = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                dots += 1
            } else if !(48...57).contains(byte) {
                return false
            }
        }
        return !text.isEmpty && dots <= 1 && text != "."
    }
}
