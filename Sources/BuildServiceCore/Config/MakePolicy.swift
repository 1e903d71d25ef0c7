import Foundation

/// `[build.make]` and a project's `make` table: what a request may say to `make` beyond its
/// options. Command-line variables and targets are make code in disguise
/// (`reference/MAKE-ARGUMENTS.md`), so variables are refused unless allowed by name.
public struct MakePolicy: Sendable, Equatable {
    /// Variables a request may set on make's command line (`V=1`); their values are limited to
    /// `ArgumentPolicy.safeValueCharacters`.
    public var allowedVariables: [String] = []
    /// Patterns a target must match; nil: any target made of safe characters that does not
    /// start with `-` or `/` and has no `..` component.
    public var allowedTargets: [ArgumentPattern]?
    /// The highest `-j` a request may ask for.
    public var maxJobs = ProcessInfo.processInfo.activeProcessorCount * 2
    /// Lets values of allowed variables contain spaces (`CFLAGS=-O2 -g`).
    public var allowSpaceInValues = false

    public init() {}

    /// Names make gives a meaning beyond a plain variable: never allowed, whatever the config says.
    public static let reservedVariables: Set<String> = [
        "SHELL", ".SHELLFLAGS", "MAKEFILES", "MAKEFLAGS", "MFLAGS", ".RECIPEPREFIX", "MAKESHELL", "MAKE",
        "MAKECMDGOALS", "MAKEOVERRIDES", "MAKELEVEL", "VPATH", "GNUMAKEFLAGS", ".DEFAULT_GOAL", "CURDIR",
        ".INCLUDE_DIRS", ".EXTRA_PREREQS", "SUFFIXES", ".LIBPATTERNS",
    ]

    /// Whether `name` can be allowed at all: a plain identifier that is not reserved.
    public static func isAllowableName(_ name: String) -> Bool {
        isIdentifier(name) && !reservedVariables.contains(name)
    }

    /// A letter or `_`, then letters, digits and `_` (ASCII): a make variable or an environment
    /// variable a shell can name.
    public static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}
