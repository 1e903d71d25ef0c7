import BuildServiceCore

/// make's arguments (NUL-separated in the input) under a policy with two allowed variables
/// and values that may hold spaces: in every argument list it accepts, each word is made only
/// of the characters no shell or make expands (an assignment's operator aside: one of the
/// operators that neither run nor re-expand their value), so nothing a client writes runs as
/// make code or shell.
enum ArgumentPolicyFuzzing {
    static let policy: ArgumentPolicy = {
        var make = MakePolicy()
        make.allowedVariables = ["CFLAGS", "PREFIX"]
        make.allowSpaceInValues = true
        return ArgumentPolicy(commandName: "make", make: make)
    }()
    static let plainOperators: Set<String> = ["=", ":=", "::=", "+=", "?="]

    static func run(_ input: [UInt8]) -> String? {
        let arguments = input.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard let words = try? policy.check(arguments) else { return nil }
        for word in words {
            if let unsafe = unsafeText(of: word) { return "accepted \(word) (\"\(unsafe)\") in \(arguments)" }
        }
        return nil
    }

    /// The part of an accepted word that make or a shell could expand, if any.
    private static func unsafeText(of word: MakeArguments.Word) -> String? {
        let texts: [String]
        switch word {
        case .flag(let spelling): texts = [spelling]
        case .path(_, let spelling, let value): texts = [spelling, value]
        case .jobs(let spelling, let value), .loadLimit(let spelling, let value): texts = [spelling] + (value.map { [$0] } ?? [])
        case .refused(let spelling, _): return spelling
        case .assignment(let name, let assignment, let value, _):
            guard plainOperators.contains(assignment) else { return assignment }
            texts = [name, value]
        case .target(let name): texts = [name]
        }
        return texts.first { !ArgumentPolicy.isSafe($0, allowingSpace: true) }
    }
}
