import BuildServiceCore
import BuildServiceProtocol
import Foundation
import Testing

/// The argument policy with an operator's settings: variables allowed by name (globally and per
/// project), target patterns, the `-j` cap, `args` patterns of other commands; and a table of
/// generated argument vectors judged against a model written independently of the validator.
struct ArgumentPolicyTests {
    let project: TemporaryDirectory
    let validator: RequestValidator

    init() throws {
        project = try TemporaryDirectory.project()
        var text = ConfigText(projectRoot: project.path)
        text.commands = """
            make = "/usr/bin/make"
            sh = { path = "/bin/sh", args = ["-c", "exit ?", "-e"] }
            cp = { path = "/bin/cp", args = ["sub/*", "-v"] }
            """
        text.build = """
            allow_root_builds = true
            [build.make]
            allowed_variables = ["V", "CFLAGS"]
            max_jobs = 8
            allow_space_in_values = true
            """
        text.projects = [
            """
            id = "demo"
            path_root = "\(project.path)"
            commands = ["make", "sh", "cp"]
            """,
            """
            id = "strict"
            path_root = "\(project.path)"
            commands = ["make"]
            make.allowed_variables = ["DESTDIR"]
            make.allowed_targets = ["all", "test-*"]
            """,
        ]
        let config = try ServiceConfig.parse(toml: text.text)
        try config.validate()
        validator = RequestValidator(config: config)
    }

    private func failure(_ args: [String], command: String = "make", project: String = "demo") -> ServiceError? {
        do {
            _ = try validator.plan(for: BuildRequest(projectID: project, command: command, args: args))
            return nil
        } catch {
            return error
        }
    }

    @Test func allowedVariablesWithPlainValuesAreAccepted() {
        #expect(failure(["V=1", "all"]) == nil)
        #expect(failure(["CFLAGS=-O2 -g -DX=1", "all"]) == nil)
        #expect(failure(["V:=1", "V+=2", "V?=3", "V::=4"]) == nil)
    }

    @Test func anAllowedNameDoesNotAllowCodeInItsValueOrOperator() throws {
        for args in [["V=$(shell id)"], ["V=`id`"], ["V=1;id"], ["V!=id"], ["V:::=1"], ["CFLAGS=-O2|id"], ["V=a\nb"], ["V=~root"]] {
            let error = try #require(failure(args), "\(args)")
            #expect(error.code == .argumentNotAllowed, "\(args)")
            #expect(error.message.contains(args[0].prefix(2)), "\(error.message)")
        }
    }

    @Test func aRefusedVariableNamesTheKeyThatWouldAllowIt() throws {
        let global = try #require(failure(["CC=clang"]))
        #expect(global.code == .argumentNotAllowed)
        #expect(global.message.contains("\"CC=clang\"") && global.message.contains("build.make.allowed_variables"), "\(global.message)")
        let scoped = try #require(failure(["V=1"], project: "strict"))
        #expect(scoped.message.contains("make.allowed_variables of project \"strict\""), "\(scoped.message)")
    }

    @Test func aProjectListReplacesTheGlobalOne() {
        #expect(failure(["DESTDIR=/tmp/stage", "all"], project: "strict") == nil)
        #expect(failure(["DESTDIR=/tmp/stage"]) != nil)
    }

    @Test func targetsFollowTheProjectPatterns() throws {
        #expect(failure(["all", "test-unit"], project: "strict") == nil)
        let error = try #require(failure(["install"], project: "strict"))
        #expect(error.code == .argumentNotAllowed)
        #expect(error.message.contains("make.allowed_targets of project \"strict\""), "\(error.message)")
    }

    @Test func jobsAreCappedByMaxJobs() throws {
        #expect(failure(["-j8"]) == nil)
        #expect(failure(["-j", "8"]) == nil)
        let error = try #require(failure(["-j9"]))
        #expect(error.code == .argumentNotAllowed)
        #expect(error.message.contains("build.make.max_jobs") && error.message.contains("8"), "\(error.message)")
    }

    @Test func otherCommandsTakeOnlyArgumentsMatchingTheirPatterns() throws {
        #expect(failure(["-e", "-c", "exit 3"], command: "sh") == nil)
        #expect(failure(["-v", "sub/a", "sub/b"], command: "cp") == nil)
        let error = try #require(failure(["-c", "id"], command: "sh"))
        #expect(error.code == .argumentNotAllowed)
        #expect(error.message.contains("argument 2 \"id\"") && error.message.contains("build.commands.sh.args"), "\(error.message)")
        #expect(failure(["/etc/passwd", "sub/x"], command: "cp")?.code == .argumentNotAllowed)
    }

    /// A malformed pattern or a variable that can never be allowed fails the config, naming its key.
    @Test func badPolicySettingsAreConfigErrorsNamingTheKey() throws {
        var text = ConfigText(projectRoot: project.path)
        text.commands = #"sh = { path = "/bin/sh", args = ["-c", "ends in \\"] }"#
        text.projects = ["id = \"demo\"\npath_root = \"\(project.path)\"\ncommands = [\"sh\"]"]
        #expect(throws: ConfigError.self) { try ServiceConfig.parse(toml: text.text) }
        do {
            _ = try ServiceConfig.parse(toml: text.text)
        } catch {
            #expect(error.description.contains("build.commands.sh.args[1]"), "\(error)")
        }
        var reserved = ConfigText(projectRoot: project.path)
        reserved.build = "allow_root_builds = true\n[build.make]\nallowed_variables = [\"V\", \"SHELL\"]"
        let config = try ServiceConfig.parse(toml: reserved.text)
        do {
            try config.validate()
            Issue.record("SHELL was accepted in allowed_variables")
        } catch {
            #expect(error.description.contains("build.make.allowed_variables[1]"), "\(error)")
        }
    }

    // MARK: Generated vectors against a model

    /// One generated piece of a command line and whether the policy above must accept it. The
    /// model is the table itself: each entry was judged by hand from make's documented behaviour.
    private static let pieces: [(words: [String], allowed: Bool)] = [
        (["all"], true), (["sub/all"], true), (["install"], true), (["a.o"], true), (["all;id"], false),
        (["$(shell id)"], false), (["/etc/passwd"], false), (["../up"], false), (["a b"], false), (["~root"], false),
        (["`id`"], false), (["V=1"], true), (["V:=1"], true), (["V!=id"], false), (["V=$(shell id)"], false),
        (["CC=gcc"], false), (["SHELL=/bin/sh"], false), ([".SHELLFLAGS=-ec"], false), (["MAKEFLAGS=-k"], false),
        (["CFLAGS=-O2 -g"], true), (["CFLAGS=-O2;id"], false), (["V =1"], false), (["$(X)=1"], false),
        (["-j4"], true), (["-j", "3"], true), (["-j"], false), (["-j999"], false), (["--jobs=2"], true),
        (["--jobs"], false), (["-k"], true), (["-s"], true), (["--silent"], true), (["-sk"], true), (["-n"], true),
        (["--eval=x"], false), (["-E", "all:"], false), (["-C", "."], true), (["-C", ".."], false), (["-C", "out"], false),
        (["-f", "sub/Makefile"], true), (["-f", "/etc/passwd"], false), (["-I", "sub"], true), (["-I", "~"], false),
        (["-o", "out/x"], false), (["-W", "sub/new.c"], true), (["--what-if=../x"], false), (["-l", "2"], true),
        (["-l"], false), (["-Oline"], true), (["--trace"], true), (["--no-such"], false), (["-q"], true),
    ]

    @Test func generatedArgumentVectorsAreJudgedLikeTheModel() {
        var generator = SeededGenerator(seed: 0x5EED_2026)
        var mismatches: [String] = []
        for _ in 0..<600 {
            let count = Int.random(in: 0...5, using: &generator)
            let chosen = (0..<count).map { _ in Self.pieces.randomElement(using: &generator)! }
            let args = chosen.flatMap(\.words)
            let expected = chosen.allSatisfy(\.allowed)
            let error = failure(args)
            if (error == nil) != expected {
                mismatches.append("\(args): expected \(expected ? "accepted" : "refused"), got \(error.map { "\($0)" } ?? "accepted")")
            } else if let error, ![ErrorCode.argumentNotAllowed, .invalidPath].contains(error.code) {
                mismatches.append("\(args): refused with \(error.code)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10).joined(separator: "\n"))")
    }
}

/// A small deterministic generator (SplitMix64), so a failing vector can be reproduced.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
