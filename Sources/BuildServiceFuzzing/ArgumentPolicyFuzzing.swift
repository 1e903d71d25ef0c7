import BuildServiceCore

/// make's arguments (NUL-separated in the input) under a policy with two allowed variables
/// and values that may hold spaces: every argument it accepts is made only of the characters
/// no shell or make expands, so nothing a client writes runs as make code or shell.
enum ArgumentPolicyFuzzing {
    static let policy: ArgumentPolicy = {
        var make = MakePolicy()
        make.allowedVariables = ["CFLAGS", "PREFIX"]
        make.allowSpaceInValues = true
        return ArgumentPolicy(commandName: "make", make: make)
    }()

    static func run(_ input: [UInt8]) -> String? {
        let arguments = input.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard let words = try? policy.check(arguments) else { return nil }
        if let unsafe = arguments.first(where: { !ArgumentPolicy.isSafe($0, allowingSpace: true) }) {
            return "accepted the argument \"\(unsafe)\" in \(arguments)"
        }
        if let refused = words.first(where: { if case .refused = $0 { true } else { false } }) {
            return "accepted \(arguments) with the refused word \(refused)"
        }
        return nil
    }
}
