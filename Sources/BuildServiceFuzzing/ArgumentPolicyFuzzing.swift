import BuildServiceCore

/// make's arguments (NUL-separated in the input) under a policy with two allowed variables
/// and values that may hold spaces: in every argument list it accepts, each word is made only
/// of the characters no shell or make expands (spaces only in a value; an assignment's
/// operator aside: one of those that neither run nor re-expand their value), and an
/// assignment names an allowed variable. The characters are written out here, not taken from
/// the policy's own `isSafe`, so a hole in it is seen.
enum ArgumentPolicyFuzzing {
    static let policy: ArgumentPolicy = {
        var make = MakePolicy()
        make.allowedVariables = ["CFLAGS", "PREFIX"]
        make.allowSpaceInValues = true
        return ArgumentPolicy(commandName: "make", make: make)
    }()
    static let plainOperators: Set<String> = ["=", ":=", "::=", "+=", "?="]
    static let allowedVariables: Set<String> = ["CFLAGS", "PREFIX"]
    static let plainBytes = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:=+%".utf8)

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
        func plain(_ text: String, allowingSpace: Bool = false) -> Bool {
            text.utf8.allSatisfy { plainBytes.contains($0) || (allowingSpace && $0 == UInt8(ascii: " ")) }
        }
        switch word {
        case .flag(let spelling):
            return plain(spelling) ? nil : spelling
        case .path(_, let spelling, let value):
            return [spelling, value].first { !plain($0) }
        case .jobs(let spelling, let value), .loadLimit(let spelling, let value):
            return ([spelling] + (value.map { [$0] } ?? [])).first { !plain($0) }
        case .refused(let spelling, _):
            return spelling
        case .assignment(let name, let assignment, let value, _):
            guard allowedVariables.contains(name) else { return name }
            guard plainOperators.contains(assignment) else { return assignment }
            return plain(value, allowingSpace: true) ? nil : value
        case .target(let name):
            return plain(name) ? nil : name
        }
    }
}
