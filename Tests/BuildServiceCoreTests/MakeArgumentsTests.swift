import BuildServiceCore
import Testing

/// `MakeArguments.parse` reads every word the way GNU make's own parser does: options in every
/// spelling, `-j`/`-l` counts in the same or the next word, assignments, targets.
struct MakeArgumentsTests {
    private typealias Word = MakeArguments.Word

    private static func expectParsed(_ arguments: [String], _ expected: [Word], sourceLocation: SourceLocation = #_sourceLocation) {
        let actual = MakeArguments.parse(arguments)
        #expect(actual == expected, "\(arguments)", sourceLocation: sourceLocation)
    }

    @Test func directorySpellings() {
        Self.expectParsed(["-C", "dir"], [.path(.directory, spelling: "-C", value: "dir")])
        Self.expectParsed(["-Cdir"], [.path(.directory, spelling: "-C", value: "dir")])
        Self.expectParsed(["--directory", "dir"], [.path(.directory, spelling: "--directory", value: "dir")])
        Self.expectParsed(["--directory=dir"], [.path(.directory, spelling: "--directory=dir", value: "dir")])
        Self.expectParsed(["--dir=dir"], [.path(.directory, spelling: "--dir=dir", value: "dir")])
        Self.expectParsed(["--direc", "dir"], [.path(.directory, spelling: "--direc", value: "dir")])
    }

    @Test func fileSpellings() {
        Self.expectParsed(["-f", "m.mk"], [.path(.makefile, spelling: "-f", value: "m.mk")])
        Self.expectParsed(["-fm.mk"], [.path(.makefile, spelling: "-f", value: "m.mk")])
        Self.expectParsed(["--makefile=m.mk"], [.path(.makefile, spelling: "--makefile=m.mk", value: "m.mk")])
        Self.expectParsed(["--inc=inc"], [.path(.includeDirectory, spelling: "--inc=inc", value: "inc")])
        Self.expectParsed(["-o", "x.c"], [.path(.oldFile, spelling: "-o", value: "x.c")])
        Self.expectParsed(["-Wx.c"], [.path(.newFile, spelling: "-W", value: "x.c")])
        Self.expectParsed(["--what-if=x.c"], [.path(.newFile, spelling: "--what-if=x.c", value: "x.c")])
        Self.expectParsed(["--assume-old", "y"], [.path(.oldFile, spelling: "--assume-old", value: "y")])
    }

    @Test func clusteredShortFlagsEndInTheirValueOption() {
        Self.expectParsed(["-sC", "dir"], [.flag(spelling: "-s"), .path(.directory, spelling: "-C", value: "dir")])
        Self.expectParsed(["-kf", "m.mk"], [.flag(spelling: "-k"), .path(.makefile, spelling: "-f", value: "m.mk")])
        // The value of -C runs to the end of the word: "f" here is part of the directory name.
        Self.expectParsed(["-Cf", "x"], [.path(.directory, spelling: "-C", value: "f"), .target("x")])
        Self.expectParsed(["-sE", "x:=1"], [.flag(spelling: "-s"), .refused(spelling: "-E", reason: "it evaluates its value as makefile text")])
    }

    @Test func jobsTakeTheirCountAttachedOrFromANumericNextWord() {
        Self.expectParsed(["-j4"], [.jobs(spelling: "-j", value: "4")])
        Self.expectParsed(["-j", "4", "all"], [.jobs(spelling: "-j", value: "4"), .target("all")])
        Self.expectParsed(["-j", "all"], [.jobs(spelling: "-j", value: nil), .target("all")])
        Self.expectParsed(["--jobs", "8"], [.jobs(spelling: "--jobs", value: "8")])
        Self.expectParsed(["--jobs=2"], [.jobs(spelling: "--jobs=2", value: "2")])
        Self.expectParsed(["-kj"], [.flag(spelling: "-k"), .jobs(spelling: "-j", value: nil)])
        Self.expectParsed(["-l", "2.5"], [.loadLimit(spelling: "-l", value: "2.5")])
        // An attached value ends the word: -jC is -j with the count "C".
        Self.expectParsed(["-jC", "dir"], [.jobs(spelling: "-j", value: "C"), .target("dir")])
    }

    @Test func assignmentsInEveryOperator() {
        Self.expectParsed(["V=1"], [.assignment(name: "V", operator: "=", value: "1", spelling: "V=1")])
        Self.expectParsed(["X:=$(shell id)"], [.assignment(name: "X", operator: ":=", value: "$(shell id)", spelling: "X:=$(shell id)")])
        Self.expectParsed(["X::=a"], [.assignment(name: "X", operator: "::=", value: "a", spelling: "X::=a")])
        Self.expectParsed(["X:::=a"], [.assignment(name: "X", operator: ":::=", value: "a", spelling: "X:::=a")])
        Self.expectParsed(["X!=id"], [.assignment(name: "X", operator: "!=", value: "id", spelling: "X!=id")])
        Self.expectParsed(["X+=a=b"], [.assignment(name: "X", operator: "+=", value: "a=b", spelling: "X+=a=b")])
        Self.expectParsed(["$(shell id)X=1"], [.assignment(name: "$(shell id)X", operator: "=", value: "1", spelling: "$(shell id)X=1")])
    }

    @Test(arguments: [
        ["--d=/etc"],  // ambiguous: debug, directory, dry-run
        ["--no-such-option"],
        ["-x"],
        ["-C"],
        ["all", "--file"],
        ["--eval=x"],
        ["--jobserver-auth=3,4"],
        ["--silent=yes"],
        ["--debug=n$(id)"],
        ["--deb=a,$(id)"],
        ["--debug=b v"],
        ["--output-sync=$(id)"],
        ["-O$(id)"],
        ["-sOfoo"],
        ["--shuffle=1;id"],
    ])
    func unknownAmbiguousAndValuelessOptionsAreRefused(arguments: [String]) {
        #expect(Self.isRefused(MakeArguments.parse(arguments)))
    }

    @Test(arguments: ["--debug", "--debug=a,b", "--deb=basic", "-Oline", "-O", "--output-sync=target", "--shuffle=42", "--shuffle=reverse"])
    func documentedValuesOfAttachedOnlyOptionsAreFlags(argument: String) {
        Self.expectParsed([argument], [.flag(spelling: argument)])
    }

    @Test func requiredValueOfAnotherOptionIsNotReadAsAnOption() {
        Self.expectParsed(["-o", "-C", "x"], [.path(.oldFile, spelling: "-o", value: "-C"), .target("x")])
        Self.expectParsed(["--assume-old", "--directory=/etc"], [.path(.oldFile, spelling: "--assume-old", value: "--directory=/etc")])
    }

    @Test func nothingAfterDoubleDashIsAnOption() {
        Self.expectParsed(["--", "-C/etc", "V=1"], [.target("-C/etc"), .assignment(name: "V", operator: "=", value: "1", spelling: "V=1")])
        Self.expectParsed(["-C", "a", "--", "--"], [.path(.directory, spelling: "-C", value: "a"), .target("--")])
    }

    private static func isRefused(_ words: [Word]) -> Bool {
        words.contains { if case .refused = $0 { true } else { false } }
    }
}
