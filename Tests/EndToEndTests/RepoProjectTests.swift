import Foundation
import Testing

/// Repo projects: a local repository made by the test (branches, tags, commits), one mirror,
/// a disposable checkout per build at the requested ref, refs that cannot become options.
@Suite final class RepoProjectTests: Sendable {
    let daemon: DaemonUnderTest
    /// Holds the source repository; removed with the test.
    let base: String
    let source: String
    /// Commit ids: the first (tag v1) and the main branch's head.
    let first: String
    let head: String
    /// A commit only refs/pull/8/head reaches (a forge's pull request from a fork).
    let pullRequest: String

    init() async throws {
        var template = Array("/tmp/bs-repo-XXXXXX".utf8CString)
        guard let pointer = mkdtemp(&template) else { throw DaemonError("mkdtemp failed") }
        base = String(cString: pointer)
        chmod(base, 0o755)
        source = base + "/source"
        let script = """
            set -e
            mkdir -p \(source)/sub && cd \(source)
            git init -q -b main && git config user.email t@example.com && git config user.name test
            printf 'all:\\n\\t@echo "version $$(cat version.txt) in $$(pwd)"\\nslow:\\n\\t@sleep 1; echo "slow $$(cat version.txt)"\\nhang:\\n\\t@sleep 30\\nwho:\\n\\t@echo "$$(id -u) $$(stat -c %%u .)"; touch /root/.bs-repo-probe 2>/dev/null && echo wrote || true\\n' > Makefile
            printf 'here:\\n\\t@echo "sub of $$(cat ../version.txt)"\\n' > sub/Makefile
            ln -s /etc escape
            echo one > version.txt && git add -A && git commit -q -m one && git tag v1
            echo two > version.txt && git commit -q -am two
            git checkout -q -b feature && echo feature > version.txt && git commit -q -am feature && git checkout -q main
            git update-ref refs/pull/7/head feature
            git checkout -q --detach && echo pr > version.txt && git commit -q -am pr
            git update-ref refs/pull/8/head HEAD && git checkout -q main
            """
        let made = try await TestProcess.run("/bin/sh", ["-c", script], outputDirectory: base)
        guard made.status == 0 else { throw DaemonError("making the repository failed: \(made.stderrText)") }
        first = try await Self.git(["rev-parse", "v1"], in: source, base: base)
        head = try await Self.git(["rev-parse", "main"], in: source, base: base)
        pullRequest = try await Self.git(["rev-parse", "refs/pull/8/head"], in: source, base: base)
        var options = DaemonUnderTest.Options(defaultTimeoutSec: 20)
        options.extraProjects = """
            [[projects]]
            id = "repo"
            type = "repo"
            repo_url = "\(source)"
            repo_ref = "main"
            commands = ["make"]
            [[projects]]
            id = "repo-sub"
            type = "repo"
            repo_url = "\(source)"
            repo_subdir = "sub"
            commands = ["make"]
            [[projects]]
            id = "repo-escape"
            type = "repo"
            repo_url = "\(source)"
            repo_subdir = "escape"
            commands = ["make"]
            [[projects]]
            id = "repo-prs"
            type = "repo"
            repo_url = "\(source)"
            allowed_refs = ["refs/pull/*/head"]
            commands = ["make"]
            """
        daemon = try await DaemonUnderTest(options)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: base)
    }

    private static func git(_ arguments: [String], in directory: String, base: String) async throws -> String {
        let result = try await TestProcess.run("/usr/bin/git", ["-C", directory] + arguments, outputDirectory: base)
        // A failed git (a mirror that is not there) must not read as "no refs".
        try #require(result.status == 0, "git \(arguments): \(result.stderrText)")
        return result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func build(_ fields: [String: Any]) async throws -> (status: Int, events: [EventLine], body: String) {
        var fields = fields
        if fields["project_id"] == nil { fields["project_id"] = "repo" }
        if fields["command"] == nil { fields["command"] = "make" }
        let response = try await daemon.curl(requestJSON(fields))
        return (response.status, response.status == 200 ? try parseEvents(response.body) : [], response.body)
    }

    private func stdout(_ events: [EventLine]) -> String {
        events.filter { $0["type"] as? String == "stdout" }.compactMap { $0["data"] as? String }.joined()
    }

    /// Build checkouts present now (the project's spare, a dot name, is not one).
    private var checkouts: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: daemon.directory + "/workspaces/builds")) ?? []).filter { !$0.hasPrefix(".") }
    }

    @Test func buildsAtTheConfiguredRefABranchATagAndCommitIds() async throws {
        let cases: [(String?, String)] = [
            (nil, "two"), ("feature", "feature"), ("v1", "one"), (first, "one"), (String(first.prefix(8)), "one"), (head, "two"),
        ]
        for (ref, version) in cases {
            var fields: [String: Any] = [:]
            if let ref { fields["ref"] = ref }
            let result = try await build(fields)
            #expect(result.events.last?["code"] as? Int == 0, "\(ref ?? "repo_ref"): \(result.events)")
            let output = stdout(result.events)
            #expect(output.hasPrefix("version \(version) in \(daemon.directory)/workspaces/builds/bld_"), "\(ref ?? "repo_ref"): \(output)")
        }
        // One mirror, and no checkout left behind.
        #expect(FileManager.default.fileExists(atPath: daemon.directory + "/workspaces/mirrors/repo.git"))
        #expect(await eventually { checkouts.isEmpty })
    }

    @Test(arguments: ["--upload-pack=x", "-b", "../x", "a..b", "@{-1}", "main:x", "x.lock", "HEAD~1", "a b", "a\u{0}b"])
    func refsThatCouldBeOptionsOrExpressionsAre400(ref: String) async throws {
        let result = try await build(["ref": ref])
        #expect(result.status == 400, "\(ref): \(result.body)")
        #expect(result.body.contains("invalid_ref") || result.body.contains("invalid_request"), "\(result.body)")
        #expect(checkouts.isEmpty)
    }

    @Test(arguments: ["no-such-branch", "pull/7/head", "refs/pull/7/head"])
    func anUnknownRefIsAnErrorEventNamingIt(ref: String) async throws {
        // A mirror holds more refs than branches and tags (a forge's pull requests): those
        // cannot be built by name.
        let result = try await build(["ref": ref])
        let error = try #require(result.events.first { $0["type"] as? String == "error" })
        #expect(error["code"] as? String == "repo_checkout_failed")
        #expect((error["message"] as? String)?.contains(ref) == true)
        #expect(result.events.last?["code"] as? Int == 1)
        #expect(await eventually { checkouts.isEmpty })
    }

    private func refs(inMirror project: String) async throws -> [String] {
        let mirror = daemon.directory + "/workspaces/mirrors/\(project).git"
        let listed = try await Self.git(["--git-dir=\(mirror)", "for-each-ref", "--format=%(refname)"], in: base, base: base)
        return listed.split(separator: "\n").map(String.init)
    }

    private func expectRefused(_ ref: String, naming commit: String, project: String = "repo") async throws {
        let result = try await build(["ref": ref, "project_id": project])
        let error = try #require(result.events.first { $0["type"] as? String == "error" }, "\(ref): \(result.events)")
        #expect(error["code"] as? String == "repo_checkout_failed")
        #expect((error["message"] as? String)?.contains(commit) == true, "\(error)")
        #expect(result.events.last?["code"] as? Int == 1)
        #expect(!stdout(result.events).contains("version"), "\(ref) was built: \(result.events)")
    }

    @Test func aCommitThatOnlyAPullRequestReachesIsNotBuiltByItsID() async throws {
        // git itself would check it out of a `clone --mirror` of the source.
        for ref in [pullRequest, String(pullRequest.prefix(10))] {
            try await expectRefused(ref, naming: pullRequest)
        }
        // The mirror took branches and tags only.
        let kept = try await refs(inMirror: "repo")
        #expect(kept.contains("refs/heads/main"), "\(kept)")
        #expect(kept.allSatisfy { $0.hasPrefix("refs/heads/") || $0.hasPrefix("refs/tags/") }, "\(kept)")
        #expect(await eventually { checkouts.isEmpty })
    }

    @Test func allowedRefsLetPullRequestsBuildByNameAndByID() async throws {
        for ref in ["pull/8/head", "refs/pull/8/head", pullRequest] {
            let result = try await build(["ref": ref, "project_id": "repo-prs"])
            #expect(stdout(result.events).hasPrefix("version pr in "), "\(ref): \(result.events)")
        }
        #expect(try await refs(inMirror: "repo-prs").contains("refs/pull/8/head"))
    }

    @Test func aCommitWhoseBranchIsGoneIsNotBuiltThoughTheMirrorStillHoldsIt() async throws {
        _ = try await Self.git(["branch", "doomed", pullRequest], in: source, base: base)
        let before = try await build(["ref": "doomed"])
        #expect(stdout(before.events).hasPrefix("version pr in "), "\(before.events)")
        _ = try await Self.git(["branch", "-D", "doomed"], in: source, base: base)
        try await expectRefused(pullRequest, naming: pullRequest)
    }

    @Test func aMirrorAnEarlierVersionClonedWithEveryRefIsTrimmed() async throws {
        // What `clone --mirror` left: the forge's pull requests too.
        let mirror = daemon.directory + "/workspaces/mirrors/repo.git"
        let cloned = try await TestProcess.run("/usr/bin/git", ["clone", "-q", "--mirror", source, mirror], outputDirectory: base)
        #expect(cloned.status == 0, "\(cloned.stderrText)")
        #expect(try await refs(inMirror: "repo").contains("refs/pull/8/head"))
        try await expectRefused(pullRequest, naming: pullRequest)
        #expect(!(try await refs(inMirror: "repo").contains { $0.hasPrefix("refs/pull/") }))
    }

    @Test func repoSubdirIsTheRootAndMayNotLeadOutThroughASymlink() async throws {
        let sub = try await build(["project_id": "repo-sub", "args": ["here"]])
        #expect(stdout(sub.events) == "sub of two\n", "\(sub.events)")
        let escape = try await build(["project_id": "repo-escape"])
        let error = try #require(escape.events.first { $0["type"] as? String == "error" })
        #expect(error["code"] as? String == "repo_subdir_invalid")
        #expect(escape.events.last?["code"] as? Int == 1)
        // cwd and make paths are checked in the checkout like in a path project.
        let outside = try await build(["args": ["-C", "/etc"]])
        #expect(outside.events.first { $0["type"] as? String == "error" }?["code"] as? String == "invalid_path")
        #expect(await eventually { checkouts.isEmpty })
    }

    @Test func theCheckoutIsRemovedAfterFailureTimeoutAndDisconnect() async throws {
        let failed = try await build(["args": ["no-such-target"]])
        #expect(failed.events.last?["code"] as? Int == 2)
        let timedOut = try await build(["args": ["hang"], "timeout_sec": 2])
        #expect(timedOut.events.last?["timed_out"] as? Bool == true)
        #expect(await eventually { checkouts.isEmpty })
        // A client that goes away mid-build.
        let client = try TestProcess.start(
            "/usr/bin/curl",
            [
                "-sS", "-N", "--data-binary", requestJSON(["project_id": "repo", "command": "make", "args": ["hang"]]),
                daemon.httpBase + "/v1/builds",
            ],
            outputDirectory: daemon.directory
        )
        #expect(await eventually { checkouts.count == 1 })
        client.signal(SIGKILL)
        _ = await client.wait()
        #expect(await eventually { checkouts.isEmpty })
    }

    @Test func concurrentBuildsAtDifferentRefsSeeTheirOwnTrees() async throws {
        async let one = build(["ref": "v1", "args": ["slow"]])
        async let two = build(["ref": "feature", "args": ["slow"]])
        let (a, b) = try await (one, two)
        #expect(stdout(a.events) == "slow one\n")
        #expect(stdout(b.events) == "slow feature\n")
    }

    @Test(.enabled(if: getuid() == 0, "switching users needs root"))
    func gitAndTheBuildRunAsTheRunAsUser() async throws {
        let asNobody = try await DaemonUnderTest(asNobodyOptions())
        let response = try await asNobody.curl(requestJSON(["project_id": "repo", "command": "make", "args": ["who"]]))
        let events = try parseEvents(response.body)
        let nobody = try #require(getpwnam("nobody")).pointee.pw_uid
        // The build runs as nobody, in a checkout nobody owns (git ran as nobody too).
        #expect(stdout(events) == "\(nobody) \(nobody)\n", "\(events)")
        #expect(!FileManager.default.fileExists(atPath: "/root/.bs-repo-probe"))
        // The mirror is the daemon's: the build user reads it (its checkout borrows the objects)
        // but cannot change what other builds will check out, nor plant a hook or config.
        let mirror = asNobody.directory + "/workspaces/mirrors/repo.git"
        var info = stat()
        #expect(stat(mirror, &info) == 0 && info.st_uid == getuid())
        // Only the build user's group may enter mirrors/ at all.
        let nogroup = try #require(getpwnam("nobody")).pointee.pw_gid
        #expect(stat(asNobody.directory + "/workspaces/mirrors", &info) == 0 && info.st_mode & 0o777 == 0o750 && info.st_gid == nogroup)
        let tamper = try await asNobody.curl(
            requestJSON([
                "project_id": "repo", "command": "sh",
                "args": [
                    "-c",
                    "for f in \(mirror)/config \(mirror)/hooks/post-checkout \(mirror)/refs/heads/evil \(mirror)/packed-refs; do "
                        + "(echo x >> $f) 2>/dev/null && echo wrote $f; done; echo tried",
                ],
            ])
        )
        #expect(stdout(try parseEvents(tamper.body)) == "tried\n", "\(tamper.body)")
        // Later builds get a checkout the daemon prepared ahead (a spare): it is wholly the
        // build user's by the time the build runs, and at the build's commit.
        let spares = asNobody.directory + "/workspaces/spares"
        #expect(await eventually { ((try? FileManager.default.contentsOfDirectory(atPath: spares)) ?? []).count == 1 })
        let spareBuild = try await asNobody.curl(
            requestJSON([
                "project_id": "repo", "command": "sh", "ref": "v1", "args": ["-c", "find . ! -user nobody | head -3; cat version.txt"],
            ])
        )
        #expect(stdout(try parseEvents(spareBuild.body)) == "one\n", "\(spareBuild.body)")
        // The repository holds a symlink to /etc: handing the spare over changed the link, not /etc.
        let etcNobody = try await TestProcess.run(
            "/usr/bin/find",
            ["/etc", "-maxdepth", "2", "-user", "nobody"],
            outputDirectory: asNobody.directory
        )
        #expect(etcNobody.stdoutText.isEmpty, "\(etcNobody.stdoutText)")
        #expect(stat(spares, &info) == 0 && info.st_mode & 0o777 == 0o700 && info.st_uid == getuid())
        // A mirror the build user owns (as an earlier version left them) is not trusted: after a
        // restart it is thrown away and cloned afresh, and nothing planted in it runs.
        await asNobody.stop()
        let planted = asNobody.directory + "/planted"
        try "[core]\n\tfsmonitor = \"touch \(planted)\"\n".write(toFile: mirror + "/config", atomically: false, encoding: .utf8)
        _ = try await TestProcess.run("/bin/chown", ["-R", "nobody", mirror], outputDirectory: asNobody.directory)
        try await asNobody.start()
        let again = try await asNobody.curl(requestJSON(["project_id": "repo", "command": "make", "args": ["who"]]))
        #expect(stdout(try parseEvents(again.body)) == "\(nobody) \(nobody)\n", "\(again.body)")
        #expect(stat(mirror, &info) == 0 && info.st_uid == getuid())
        #expect(!FileManager.default.fileExists(atPath: planted))
        // A build that leaves read-only directories behind does not keep its checkout alive.
        let readOnly = try await asNobody.curl(
            requestJSON([
                "project_id": "repo", "command": "sh", "args": ["-c", "mkdir -p ro/sub && touch ro/sub/f && chmod 555 ro/sub ro && echo locked"],
            ])
        )
        #expect(stdout(try parseEvents(readOnly.body)) == "locked\n", "\(readOnly.body)")
        // The checkout is removed (with nobody's rights) once the build is over.
        let builds = asNobody.directory + "/workspaces/builds"
        #expect(await eventually { ((try? FileManager.default.contentsOfDirectory(atPath: builds)) ?? ["?"]).isEmpty })
    }

    /// A spare that cannot be handed over (a hard-linked file, which the hand-over refuses to
    /// give away) is removed, not left in `spares/` half the build user's, half the mirror
    /// user's, where neither could empty it; the build runs on a fresh checkout instead.
    @Test(.enabled(if: getuid() == 0, "switching users needs root"))
    func aSpareThatCannotBeHandedOverIsRemoved() async throws {
        var options = asNobodyOptions()
        options.lifecycle += "\nmirror_user = \"daemon\""
        let daemon = try await DaemonUnderTest(options)
        let first = try await daemon.curl(requestJSON(["project_id": "repo", "command": "sh", "args": ["-c", "cat version.txt"]]))
        #expect(stdout(try parseEvents(first.body)) == "two\n", "\(first.body)")
        let spares = daemon.directory + "/workspaces/spares"
        #expect(await eventually { ((try? FileManager.default.contentsOfDirectory(atPath: spares)) ?? []).count == 1 })
        let spare = spares + "/" + (try FileManager.default.contentsOfDirectory(atPath: spares)[0])
        // Ready once its checkout is written and no git, find or touch works on it any more.
        #expect(await eventually { FileManager.default.fileExists(atPath: spare + "/version.txt") })
        #expect(await eventually { processes(matching: spare).isEmpty })
        try await Task.sleep(for: .milliseconds(300))
        #expect(await eventually { processes(matching: spare).isEmpty })
        try "linked\n".write(toFile: spare + "/linked", atomically: false, encoding: .utf8)
        #expect(link(spare + "/linked", spare + "/linked-too") == 0)
        let second = try await daemon.curl(
            requestJSON(["project_id": "repo", "command": "sh", "args": ["-c", "cat version.txt; ls linked 2>/dev/null; true"]])
        )
        #expect(stdout(try parseEvents(second.body)) == "two\n", "\(second.body)")
        #expect(await eventually { !FileManager.default.fileExists(atPath: spare) }, "the refused spare is still in spares/")
        await daemon.stop()
    }

    /// Builds as nobody; the repo project may also run `sh`.
    private func asNobodyOptions() -> DaemonUnderTest.Options {
        var options = DaemonUnderTest.Options()
        options.runAsUser = "nobody"
        options.extraProjects = """
            [[projects]]
            id = "repo"
            type = "repo"
            repo_url = "\(source)"
            commands = ["make", "sh"]
            """
        return options
    }

    /// With `build.mirror_user`, mirrors belong to that user (not root, not the build user) and
    /// builds still cannot write them.
    @Test(.enabled(if: getuid() == 0, "switching users needs root"))
    func mirrorsCanBelongToADedicatedUser() async throws {
        var options = asNobodyOptions()
        options.lifecycle += "\nmirror_user = \"daemon\""
        let daemon = try await DaemonUnderTest(options)
        let mirror = daemon.directory + "/workspaces/mirrors/repo.git"
        let response = try await daemon.curl(
            requestJSON([
                "project_id": "repo", "command": "sh", "args": ["-c", "cat version.txt; (echo x >> \(mirror)/config) 2>/dev/null && echo wrote"],
            ])
        )
        #expect(stdout(try parseEvents(response.body)) == "two\n", "\(response.body)")
        let owner = try #require(getpwnam("daemon")).pointee.pw_uid
        var info = stat()
        #expect(stat(mirror, &info) == 0 && info.st_uid == owner)
        await daemon.stop()
    }
}
