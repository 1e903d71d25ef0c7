import BuildServiceCore
import BuildServiceProtocol
import Foundation
import Testing

/// `RequestValidator.plan(for:)` against a real project directory:
///
/// ```
/// root/
///   sub/Makefile
///   out   -> /etc
///   inner -> sub
/// ```
struct RequestValidatorTests {
    let project: TemporaryDirectory
    let validator: RequestValidator

    init() throws {
        project = try TemporaryDirectory.project()
        try project.symlink("inner", to: "sub")
        var text = ConfigText(projectRoot: project.path)
        text.timeouts = "default_sec = 300\nmax_sec = 900"
        text.projects.append("id = \"other\"\npath_root = \"\(project.path)\"\ncommands = [\"sh\"]")
        let config = try ServiceConfig.parse(toml: text.text)
        try config.validate()
        validator = RequestValidator(config: config)
    }

    private func request(
        command: String = "make",
        args: [String] = [],
        cwd: String? = nil,
        timeoutSec: Int? = nil,
        project: String = "demo"
    ) -> BuildRequest {
        BuildRequest(projectID: project, command: command, args: args, cwd: cwd, timeoutSec: timeoutSec)
    }

    /// The error `plan(for:)` throws for `request`, or nil when it is accepted.
    private func failure(_ request: BuildRequest) -> ServiceError? {
        do {
            _ = try validator.plan(for: request)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Working directory

    @Test(arguments: ["..", "/etc", "out", "out/", "sub/../..", "inner/../../", "../../../../../..", "./sub/../../x", "zz/../out", "zz/../out/ssl"])
    func cwdOutsideTheRootIsRejectedNamingIt(cwd: String) throws {
        let error = try #require(failure(request(cwd: cwd)))
        #expect(error.code == .invalidPath)
        #expect(error.message.contains("cwd \"\(cwd)\""), "\(error.message)")
    }

    @Test func absoluteCwdOfTheRootsParentIsRejected() throws {
        let error = try #require(failure(request(cwd: project.parent)))
        #expect(error.code == .invalidPath)
        #expect(error.message.contains(project.parent), "\(error.message)")
    }

    @Test func absoluteCwdOfASiblingWithTheRootAsPrefixIsRejected() throws {
        let sibling = project.path + "-evil"
        try FileManager.default.createDirectory(atPath: sibling, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: sibling) }
        let error = try #require(failure(request(cwd: sibling)))
        #expect(error.code == .invalidPath)
    }

    /// A plain cwd that is a symlink to a directory whose name is not UTF-8: the name could
    /// not be passed on as it is (decoded leniently it named no directory, and the build failed
    /// at spawn after "started"), so the request is refused; make's -I through it too.
    @Test func aCwdWhoseRealNameIsNotUTF8IsRejected() throws {
        let root = open(project.path, O_RDONLY | O_DIRECTORY)
        defer { close(root) }
        let raw: [CChar] = [CChar(bitPattern: 0x6E), CChar(bitPattern: 0xFF), 0]  // "n\xFF"
        #expect(raw.withUnsafeBufferPointer { mkdirat(root, $0.baseAddress!, 0o755) } == 0)
        #expect(raw.withUnsafeBufferPointer { symlinkat($0.baseAddress!, root, "plain") } == 0)
        let error = try #require(failure(request(command: "sh", args: ["-c", "true"], cwd: "plain")))
        #expect(error.code == .invalidPath)
        #expect(error.message.contains("not UTF-8"), "\(error.message)")
    }

    /// A cwd within its own limit whose whole path (root included) is longer than PATH_MAX:
    /// the kernel could not name it to start the build there, so the request is refused
    /// (it was once taken for the root, and the build failed at spawn after "started").
    @Test func aCwdTheKernelCannotNameIsRejected() throws {
        let segment = String(repeating: "d", count: 203)
        var directory = open(project.path, O_RDONLY | O_DIRECTORY)
        for _ in 0..<20 {
            #expect(mkdirat(directory, segment, 0o755) == 0)
            let next = openat(directory, segment, O_RDONLY | O_DIRECTORY)
            close(directory)
            directory = next
        }
        close(directory)
        let cwd = Array(repeating: segment, count: 20).joined(separator: "/")
        #expect(cwd.utf8.count < 4096 && project.path.utf8.count + 1 + cwd.utf8.count > 4096)
        let error = try #require(failure(request(command: "sh", args: ["-c", "true"], cwd: cwd)))
        #expect(error.code == .invalidPath)
        #expect(error.message.contains("PATH_MAX"), "\(error.message)")
        // The tree is removed a directory at a time (its path is too long for one call).
        _ = try ChildProcess.run("/bin/sh", ["-c", "cd \"$0\" && exec rm -rf \"$1\"", project.path, segment])
    }

    @Test func cwdThatDoesNotExistIsRejected() throws {
        let error = try #require(failure(request(cwd: "nowhere")))
        #expect(error.code == .invalidPath)
        #expect(error.message.contains("\"nowhere\""))
    }

    @Test func cwdThatIsAFileIsRejected() throws {
        let error = try #require(failure(request(cwd: "sub/Makefile")))
        #expect(error.code == .invalidPath)
    }

    @Test func relativeCwdInsideTheRootIsAccepted() throws {
        let plan = try validator.plan(for: request(cwd: "sub"))
        #expect(plan.workingDirectory == "\(project.path)/sub")
        #expect(plan.projectRoot == project.path)
    }

    @Test func absoluteCwdInsideTheRootIsAccepted() throws {
        let plan = try validator.plan(for: request(cwd: "\(project.path)/sub"))
        #expect(plan.workingDirectory == "\(project.path)/sub")
    }

    @Test func cwdThroughASymlinkInsideTheRootRunsInTheResolvedDirectory() throws {
        let plan = try validator.plan(for: request(cwd: "inner"))
        #expect(plan.workingDirectory == "\(project.path)/sub")
    }

    @Test func noCwdRunsInTheProjectRoot() throws {
        #expect(try validator.plan(for: request()).workingDirectory == project.path)
        #expect(try validator.plan(for: request(cwd: "")).workingDirectory == project.path)
        #expect(try validator.plan(for: request(cwd: "sub/..")).workingDirectory == project.path)
    }

    // MARK: make arguments

    @Test(
        arguments: [
            (["-C", "../x"], "../x"),
            (["-C/x"], "/x"),
            (["--directory=.."], ".."),
            (["--directory", "/"], "/"),
            (["-f", "/etc/passwd"], "/etc/passwd"),
            (["--file=../Makefile"], "../Makefile"),
            (["--makefile", "/etc/hosts"], "/etc/hosts"),
            (["-sC/etc"], "/etc"),
            (["-kf", "/etc/passwd"], "/etc/passwd"),
            (["--dir=/etc"], "/etc"),
            (["-I", "/usr/include"], "/usr/include"),
            (["--include-dir=../inc"], "../inc"),
            (["-C", "sub", "-f", "../../x"], "../../x"),
            (["-C", "out"], "out"),
            (["-C", "inner", "-C", "../.."], "../.."),
            (["--jobs=2", "-C/etc"], "/etc"),
            (["all", "-C", ".."], ".."),
            (["-o", "/etc/passwd"], "/etc/passwd"),
            (["--what-if=../x"], "../x"),
            (["-W", "out/passwd"], "out/passwd"),
            (["--assume-new", "inner/../../x"], "inner/../../x"),
            (["-C", "~bin"], "~bin"),
            (["--directory=~root"], "~root"),
            (["-f", "~/x.mk"], "~/x.mk"),
            (["-I~"], "~"),
            (["-I", "missing-dir"], "missing-dir"),
            (["out/passwd"], "out/passwd"),
            (["-C", "/proc/self/cwd"], "/proc/self/cwd"),
        ]
    )
    func makeArgumentEscapingTheRootIsRejectedNamingIt(args: [String], value: String) throws {
        let error = try #require(failure(request(args: args)))
        #expect(error.code == .invalidPath)
        #expect(error.message.contains("\"\(value)\""), "\(error.message)")
    }

    @Test(
        arguments: [
            (["--eval=x:=$(shell id)"], "--eval"),
            (["--eval", "include /etc/x.mk"], "--eval"),
            (["--ev=all:"], "--ev"),
            (["-E", "all:"], "-E"),
            (["-sE", "all:"], "-E"),
            (["MAKEFLAGS=-C/etc"], "MAKEFLAGS="),
            (["MFLAGS+=-f/etc/passwd"], "MFLAGS+="),
            (["MAKEFILES=/etc/evil.mk"], "MAKEFILES="),
            (["--", "MAKEFILES=sub/Makefile"], "MAKEFILES="),
            (["X:=$(shell id)"], "X:="),
            (["$(shell id)X=1"], "$(shell id)X=1"),
            (["SHELL=/bin/python3"], "SHELL="),
            ([".SHELLFLAGS=-c"], ".SHELLFLAGS="),
            (["CC=cc;id"], "CC="),
            (["VAR=/etc"], "VAR="),
            (["all;id"], "all;id"),
            (["$(shell id)"], "$(shell id)"),
            (["-j"], "-j"),
            (["--jobs"], "--jobs"),
            (["-j", "all"], "-j"),
            (["-j1000"], "-j"),
            (["-j0"], "-j"),
            (["-l"], "-l"),
            (["--no-such-option"], "--no-such-option"),
            (["--jobserver-auth=3,4"], "--jobserver-auth"),
            (["-f", "x;id;y.mk"], "-f"),
            (["-I", "x|id"], "-I"),
            (["V@=1"], "V@=1"),
        ]
    )
    func makeArgumentsOutsideThePolicyAreRefusedNamingThem(args: [String], spelling: String) throws {
        let error = try #require(failure(request(args: args)))
        #expect(error.code == .argumentNotAllowed)
        #expect(error.message.contains(spelling), "\(error.message)")
    }

    @Test func makefileIsResolvedRelativeToTheDirectoryInEffect() throws {
        // ../Makefile from the root is outside; from sub it is the root's own (missing) Makefile.
        let plan = try validator.plan(for: request(args: ["-C", "sub", "-f", "../Makefile"]))
        #expect(plan.arguments == ["-C", "sub", "-f", "../Makefile"])
        let error = try #require(failure(request(args: ["-f", "../Makefile"])))
        #expect(error.code == .invalidPath)
    }

    @Test func makeArgumentsAreCheckedFromTheRequestedCwd() throws {
        #expect(try validator.plan(for: request(args: ["-C", ".."], cwd: "sub")).workingDirectory == project.path)
        let error = try #require(failure(request(args: ["-C", "../.."], cwd: "sub")))
        #expect(error.code == .invalidPath)
    }

    @Test(
        arguments: [
            ["-C", "sub"],
            ["-f", "sub/Makefile"],
            ["-j4", "all"],
            ["-j", "2", "-C", "sub"],
            ["-l", "1.5", "all"],
            ["--", "sub/all"],
            ["--directory=inner", "-f", "Makefile"],
            ["-o", "sub/Makefile", "-W", "new-file-here.c"],
            ["-Oline", "--no-print-directory", "all"],
            ["-C", "inner", "-C", ".."],
        ]
    )
    func makeArgumentsInsideTheRootAreAccepted(args: [String]) throws {
        let plan = try validator.plan(for: request(args: args))
        #expect(plan.arguments == args)
        #expect(plan.commandName == "make")
        #expect(plan.executable == "/usr/bin/make")
        #expect(plan.workingDirectory.hasPrefix(project.path))
    }

    /// make gets a command line written from the checked words: no -C (the build starts in
    /// the directory the last one names), -I canonical and absolute.
    @Test func makeIsGivenTheResolvedCommandLine() throws {
        let changed = try validator.plan(for: request(args: ["-C", "inner", "-sk", "all"]))
        #expect(changed.workingDirectory == "\(project.path)/sub")
        #expect(changed.executedArguments == ["-s", "-k", "all"])
        let loud = try validator.plan(for: request(args: ["-C", "sub", "-j", "2", "all"]))
        #expect(loud.executedArguments == ["-w", "-j2", "all"])
        let include = try validator.plan(for: request(args: ["-I", "inner", "--what-if=x.c", "--assume-old=y"]))
        #expect(include.executedArguments == ["-I", "\(project.path)/sub", "-W", "x.c", "-o", "y"])
        #expect(include.arguments == ["-I", "inner", "--what-if=x.c", "--assume-old=y"])
        // The option decides old or new, not the file's name, however it is abbreviated.
        let named = try validator.plan(for: request(args: ["--what-if=old.c", "--assume-o=y", "--new=old", "-Wold"]))
        #expect(named.executedArguments == ["-W", "old.c", "-o", "y", "-W", "old", "-W", "old"])
        let plain = try validator.plan(for: request(command: "sh", args: ["-c", "true"]))
        #expect(plain.executedArguments == nil)
    }

    @Test func argumentsOfANonMakeCommandAreNotReadAsMakeOptions() throws {
        let plan = try validator.plan(for: request(command: "sh", args: ["-C", "/etc", "-f", "/etc/passwd"]))
        #expect(plan.executable == "/bin/sh")
        #expect(plan.arguments == ["-C", "/etc", "-f", "/etc/passwd"])
    }

    // MARK: Project and command

    @Test func unknownProjectIsProjectNotFound() throws {
        let error = try #require(failure(request(project: "nope")))
        #expect(error.code == .projectNotFound)
        #expect(error.message.contains("\"nope\""))
    }

    @Test func commandNotDefinedOnTheHostIsCommandUnknown() throws {
        let error = try #require(failure(request(command: "rm")))
        #expect(error.code == .commandUnknown)
        #expect(error.message.contains("\"rm\""))
    }

    @Test func commandDefinedButNotListedForTheProjectIsCommandNotAllowed() throws {
        let onHost = try #require(failure(request(command: "true")))
        #expect(onHost.code == .commandNotAllowed)
        #expect(onHost.message.contains("\"true\""))
        let forOther = try #require(failure(request(command: "make", project: "other")))
        #expect(forOther.code == .commandNotAllowed)
    }

    @Test func refOnAPathProjectIsRefNotAllowed() throws {
        var build = request()
        build.ref = "main"
        let error = try #require(failure(build))
        #expect(error.code == .refNotAllowed)
    }

    // MARK: Timeout

    @Test(arguments: [0, -5, Int.min])
    func nonPositiveTimeoutIsRejected(timeout: Int) throws {
        let error = try #require(failure(request(timeoutSec: timeout)))
        #expect(error.code == .timeout)
        #expect(error.message.contains("\(timeout)"))
    }

    @Test func timeoutAboveTheMaximumIsClampedWithAWarning() throws {
        let plan = try validator.plan(for: request(timeoutSec: 10_000))
        #expect(plan.timeoutSec == 900)
        #expect(plan.warnings.count == 1)
        guard case .warning(let code, let message) = try #require(plan.warnings.first) else {
            Issue.record("not a warning event: \(plan.warnings)")
            return
        }
        #expect(code == "timeout_clamped")
        #expect(message.contains("10000"))
        #expect(message.contains("900"))
    }

    @Test func timeoutWithinTheMaximumIsKeptWithoutWarning() throws {
        let plan = try validator.plan(for: request(timeoutSec: 900))
        #expect(plan.timeoutSec == 900)
        #expect(plan.warnings.isEmpty)
    }

    @Test func noTimeoutGetsTheDefault() throws {
        let plan = try validator.plan(for: request())
        #expect(plan.timeoutSec == 300)
        #expect(plan.warnings.isEmpty)
    }

    // MARK: Schema version and request id

    @Test func schemaVersionOtherThan2IsRejected() throws {
        var build = request()
        build.schemaVersion = "1"
        let error = try #require(failure(build))
        #expect(error.code == .schemaVersion)
        #expect(error.message.contains("\"1\""))
    }

    @Test func absentSchemaVersionIsAccepted() throws {
        var build = request()
        build.schemaVersion = nil
        #expect(try validator.plan(for: build).projectID == "demo")
    }

    @Test(arguments: [
        String(repeating: "a", count: 257), "", "tab\there", "line\nbreak", "\u{7f}", "a\u{2028}b", "\u{202E}txt.exe", "zero\u{200B}width",
    ])
    func malformedRequestIdIsInvalidRequest(requestID: String) throws {
        var build = request()
        build.requestID = requestID
        let error = try #require(failure(build))
        #expect(error.code == .invalidRequest)
        #expect(error.message.contains("request_id"))
        build.requestID = nil
        build.idempotencyKey = requestID
        #expect(try #require(failure(build)).message.contains("idempotency_key"))
    }

    /// What the original accepted: any printable text up to 256 bytes.
    @Test(arguments: ["has space", "ünicode", "make all #3", String(repeating: "r", count: 256)])
    func printableRequestIdsAndKeysAreCarriedIntoThePlan(label: String) throws {
        var build = request()
        build.requestID = label
        build.idempotencyKey = label
        let plan = try validator.plan(for: build)
        #expect(plan.requestID == label)
        #expect(plan.idempotencyKey == label)
    }
}

/// A project whose `path_root` is a symlink: a queued build's paths are checked again from the
/// root as configured, so an absolute path written with it passes then as it did at submit.
@Suite struct SymlinkedRootTests {
    @Test func aQueuedBuildsPathsAreCheckedAgainFromTheConfiguredRoot() throws {
        let project = try TemporaryDirectory.project()
        let link = project.parent + "/link-\(UUID().uuidString)"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: project.path)
        defer { try? FileManager.default.removeItem(atPath: link) }
        let config = try ServiceConfig.parse(toml: ConfigText(projectRoot: link).text)
        var plan = try RequestValidator(config: config).plan(
            for: BuildRequest(projectID: "demo", command: "make", args: ["-C", link + "/sub"], cwd: link + "/sub")
        )
        #expect(plan.configuredRoot == link)
        try RequestValidator.resolvePaths(&plan, root: plan.configuredRoot)
        #expect(plan.workingDirectory == project.path + "/sub")
        // From the canonical root alone the same paths are outside.
        #expect(throws: ServiceError.self) { try RequestValidator.resolvePaths(&plan, root: plan.projectRoot) }
    }
}
