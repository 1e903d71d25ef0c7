import BuildServiceCore
import Testing

/// `MakeArguments.pathOptions(in:)` finds every option GNU make reads a directory or file from,
/// however it is spelled, and nothing that only looks like one.
struct MakeArgumentsTests {
    private typealias Found = (kind: MakeArguments.PathOption.Kind, spelling: String, value: String)

    private static func found(_ arguments: [String]) -> [Found] {
        MakeArguments.pathOptions(in: arguments).map { ($0.kind, $0.spelling, $0.value) }
    }

    private static func expectFound(
        _ arguments: [String],
        _ expected: [Found],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let actual = found(arguments)
        let matches =
            actual.count == expected.count
            && zip(actual, expected).allSatisfy { $0.kind == $1.kind && $0.spelling == $1.spelling && $0.value == $1.value }
        #expect(matches, "\(arguments): found \(actual), expected \(expected)", sourceLocation: sourceLocation)
    }

    @Test func directorySpellings() {
        Self.expectFound(["-C", "dir"], [(.directory, "-C", "dir")])
        Self.expectFound(["-Cdir"], [(.directory, "-C", "dir")])
        Self.expectFound(["--directory", "dir"], [(.directory, "--directory", "dir")])
        Self.expectFound(["--directory=dir"], [(.directory, "--directory=dir", "dir")])
        Self.expectFound(["--dir=dir"], [(.directory, "--dir=dir", "dir")])
        Self.expectFound(["--direc", "dir"], [(.directory, "--direc", "dir")])
    }

    @Test func makefileSpellings() {
        Self.expectFound(["-f", "m.mk"], [(.makefile, "-f", "m.mk")])
        Self.expectFound(["-fm.mk"], [(.makefile, "-f", "m.mk")])
        Self.expectFound(["--file", "m.mk"], [(.makefile, "--file", "m.mk")])
        Self.expectFound(["--file=m.mk"], [(.makefile, "--file=m.mk", "m.mk")])
        Self.expectFound(["--makefile=m.mk"], [(.makefile, "--makefile=m.mk", "m.mk")])
        Self.expectFound(["--fi", "m.mk"], [(.makefile, "--fi", "m.mk")])
    }

    @Test func includeDirectorySpellings() {
        Self.expectFound(["-I", "inc"], [(.includeDirectory, "-I", "inc")])
        Self.expectFound(["-Iinc"], [(.includeDirectory, "-I", "inc")])
        Self.expectFound(["--include-dir", "inc"], [(.includeDirectory, "--include-dir", "inc")])
        Self.expectFound(["--include-dir=inc"], [(.includeDirectory, "--include-dir=inc", "inc")])
        Self.expectFound(["--inc=inc"], [(.includeDirectory, "--inc=inc", "inc")])
    }

    @Test func clusteredShortFlagsEndInTheirPathOption() {
        Self.expectFound(["-sC", "dir"], [(.directory, "-C", "dir")])
        Self.expectFound(["-sCdir"], [(.directory, "-C", "dir")])
        Self.expectFound(["-kf", "m.mk"], [(.makefile, "-f", "m.mk")])
        Self.expectFound(["-ski", "-I", "inc"], [(.includeDirectory, "-I", "inc")])
        // The value of -C runs to the end of the word: "f" here is part of the directory name.
        Self.expectFound(["-Cf", "x"], [(.directory, "-C", "f")])
    }

    @Test func ambiguousLongPrefixIsTreatedAsThePathOption() {
        // make either expands --d to --directory or rejects it; either way checking it is safe.
        Self.expectFound(["--d=/etc"], [(.directory, "--d=/etc", "/etc")])
        Self.expectFound(["--m", "/etc/hosts"], [(.makefile, "--m", "/etc/hosts")])
    }

    @Test func everyPathOptionIsReportedInOrder() {
        Self.expectFound(
            ["-C", "a", "all", "-f", "b", "--include-dir=c", "-C", "d"],
            [(.directory, "-C", "a"), (.makefile, "-f", "b"), (.includeDirectory, "--include-dir=c", "c"), (.directory, "-C", "d")]
        )
    }

    @Test func optionalValueFlagsDoNotTakeTheNextWord() {
        Self.expectFound(["-j", "-C", "dir"], [(.directory, "-C", "dir")])
        Self.expectFound(["-j4", "-Cdir"], [(.directory, "-C", "dir")])
        Self.expectFound(["--jobs", "-C/etc"], [(.directory, "-C", "/etc")])
        Self.expectFound(["-l", "-fm"], [(.makefile, "-f", "m")])
        // An attached optional value ends the word: -jC is "-j" with value "C".
        Self.expectFound(["-jC", "dir"], [])
    }

    @Test func requiredValueOfAnotherOptionIsNotReadAsAnOption() {
        Self.expectFound(["-o", "-C", "x"], [])
        Self.expectFound(["-W", "-C/etc"], [])
        Self.expectFound(["--eval", "-C/etc"], [(.code, "--eval", "-C/etc")])
        Self.expectFound(["--what-if=x", "-C", "d"], [(.directory, "-C", "d")])
        Self.expectFound(["--assume-old", "--directory=/etc"], [])
    }

    @Test func nothingAfterDoubleDashIsAnOption() {
        Self.expectFound(["--", "-C/etc", "--file=/etc/passwd"], [])
        Self.expectFound(["-C", "a", "--", "-C", "b"], [(.directory, "-C", "a")])
    }

    @Test func wordsThatAreNotPathOptionsAreIgnored() {
        Self.expectFound(["all", "VAR=/etc", "-", "-k", "-j4", "--silent", "--no-print-directory", "CFLAGS=-C/etc"], [])
    }

    @Test func optionWithoutAValueAtTheEndIsNotReported() {
        Self.expectFound(["-C"], [])
        Self.expectFound(["--directory"], [])
        Self.expectFound(["all", "-f"], [])
    }

    @Test func emptyAttachedValueIsStillReported() {
        Self.expectFound(["--directory="], [(.directory, "--directory=", "")])
    }
}
