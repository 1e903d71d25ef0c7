import BuildServiceProtocol
import CBuildServiceSystem
import Foundation
import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix

/// Checkouts for repo projects. One bare mirror per project under `<workspace_root>/mirrors/`,
/// brought up to date with a fetch when a build needs it (shared by concurrent builds); each
/// build gets its own `git clone --shared` of the mirror under `<workspace_root>/builds/<id>`,
/// detached at the resolved commit, and removed when the build ends.
///
/// The mirrors belong to the daemon's user and are only readable by builds: git that clones,
/// fetches and resolves refs in them runs as the daemon, with a config of the daemon's own (no
/// hooks, no fsmonitor, no `ext::` transport), so a build of one project cannot tamper with
/// what another project's builds check out, nor plant anything the daemon would run. The
/// checkout itself, and everything in it, is the build user's. Every git runs in its own
/// process group, non-interactively, within the build's time limit.
public struct RepoWorkspaces: Sendable {
    public let root: String
    let runner: BuildRunner
    /// Runs git on the mirrors, as the daemon's own user.
    let mirrorRunner: BuildRunner
    let gitPath: String
    /// Who builds run as (and own the checkouts).
    var identity: RunAsIdentity { runner.identity }
    private let mirrors = MirrorUpdates()
    private let spares = SpareCheckouts()

    /// No prompts, no pagers, no system config, nothing that could wait for a human.
    static let gitEnvironment = [
        "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false", "SSH_ASKPASS=/bin/false", "GIT_CONFIG_NOSYSTEM=1",
        "GIT_SSH_COMMAND=ssh -o BatchMode=yes", "GIT_PAGER=cat", "GIT_ADVICE=0",
    ]

    /// How long one mirror clone or fetch may take, whoever's build started it.
    static let mirrorUpdateLimit: Duration = .seconds(3600)

    /// Who owns the mirrors and spares (`build.mirror_user`, else the daemon's user).
    var mirrorIdentity: RunAsIdentity { mirrorRunner.identity }

    public init(root: String, runner: BuildRunner, mirrorRunner: BuildRunner, gitPath: String) {
        self.root = root
        self.runner = runner
        self.mirrorRunner = mirrorRunner
        self.gitPath = gitPath
    }

    var mirrorsDirectory: String { root + "/mirrors" }
    /// Ready checkouts of the daemon's (see `SpareCheckouts`): root-only.
    var sparesDirectory: String { root + "/spares" }
    var buildsDirectory: String { root + "/builds" }

    /// Creates `mirrors/` (the daemon's, readable by all) and `builds/` (the build user's),
    /// removes checkouts a crash left behind and mirrors that are not the daemon's (an earlier
    /// version let the build user own them: whatever is in them now cannot be trusted, so they
    /// are cloned afresh). Call at startup, then `removeLeftovers`.
    public func prepare() throws {
        let manager = FileManager.default
        // The root stays the daemon's (builds must not be able to rename mirrors/ or builds/
        // or plant symlinks in their place); only those two belong to the build user. None of
        // them may be a symlink: the daemon works in them as root.
        try manager.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        // An earlier version gave the root to the build user: take it back.
        var rootInfo = stat()
        if lstat(root, &rootInfo) == 0, rootInfo.st_mode & S_IFMT == S_IFDIR,
            rootInfo.st_uid != geteuid() || rootInfo.st_mode & 0o022 != 0
        {
            lchown(root, geteuid(), getegid())
            chmod(root, 0o755)
        }
        for directory in [root, mirrorsDirectory, buildsDirectory, sparesDirectory] {
            if directory != root, !manager.fileExists(atPath: directory) {
                try manager.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o750])
            }
            var info = stat()
            guard lstat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                throw ServiceError(.workspaceCreateFailed, "\(directory) is not a directory (a symlink is refused)")
            }
        }
        // mirrors/: the mirror user's, readable by the builds' group only (builds borrow its
        // objects; other local users have no business reading the source), writable by no build.
        lchown(mirrorsDirectory, mirrorIdentity.uid, identity.gid)
        chmod(mirrorsDirectory, 0o750)
        lchown(sparesDirectory, mirrorIdentity.uid, mirrorIdentity.gid)
        chmod(sparesDirectory, 0o700)
        if identity.switchesIdentity {
            lchown(buildsDirectory, identity.uid, identity.gid)
            chmod(buildsDirectory, 0o750)
        }
        try Self.writeConfig(trustingConfig, "[safe]\n\tdirectory = *\n[core]\n\thooksPath = /dev/null\n\tfsmonitor = false\n")
        try Self.writeConfig(
            mirrorConfig,
            "[safe]\n\tdirectory = *\n[core]\n\thooksPath = /dev/null\n\tfsmonitor = false\n[protocol \"ext\"]\n\tallow = never\n"
        )
        for entry in (try? manager.contentsOfDirectory(atPath: mirrorsDirectory)) ?? [] {
            var info = stat()
            let path = mirrorsDirectory + "/" + entry
            guard lstat(path, &info) == 0 else { continue }
            let isDirectory = info.st_mode & S_IFMT == S_IFDIR
            if isDirectory, info.st_uid == mirrorIdentity.uid, !entry.hasPrefix(".") { continue }  // a mirror
            if info.st_uid == mirrorIdentity.uid {
                // A half-made clone: its owner removes it (see `removeLeftovers`).
                rename(path, sparesDirectory + "/.half-made-\(UInt32.random(in: 0...UInt32.max))")
            } else if info.st_uid == geteuid() {
                try? manager.removeItem(atPath: path)  // the daemon's own, from before mirror_user was set
            } else {
                // The build user's (as an earlier version left mirrors): moved where the build
                // user's rights remove it (see `removeLeftovers`).
                rename(path, buildsDirectory + "/.untrusted-mirror-\(UInt32.random(in: 0...UInt32.max))")
            }
        }
    }

    /// Removes what `builds/` holds at startup (checkouts a crash left, old mirrors), with the
    /// build user's rights as `remove(buildID:)` does, and what `spares/` holds, with the
    /// mirror user's.
    /// - Returns: how many entries of `builds/` were removed.
    public func removeLeftovers(eventLoop: any EventLoop) async -> Int {
        var removed = 0
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: buildsDirectory)) ?? [] {
            if await removeTree(buildsDirectory + "/" + entry, eventLoop: eventLoop) == nil { removed += 1 }
        }
        // Spares of an earlier run: the commit they are at may be long gone from the mirror.
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: sparesDirectory)) ?? [] {
            await removeSpare(sparesDirectory + "/" + entry, eventLoop: eventLoop)
        }
        return removed
    }

    /// Writes a git config file of the daemon's (0644), replacing whatever is at that name
    /// without following a symlink.
    private static func writeConfig(_ path: String, _ text: String) throws(ServiceError) {
        unlink(path)
        let config = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard config >= 0 else { throw ServiceError(.workspaceCreateFailed, "cannot write \(path)") }
        _ = text.withCString { write(config, $0, strlen($0)) }
        fchmod(config, 0o644)
        close(config)
    }

    /// Updates the mirror and checks `repo` out for one build.
    /// - Parameter stream: receives git's progress and error output as it comes.
    /// - Returns: the project root (checkout plus `repo_subdir`).
    /// - Throws: `ServiceError` with `repo_clone_failed`, `repo_checkout_failed`,
    ///   `repo_subdir_invalid` or `timeout`, saying what git said.
    func checkout(
        _ repo: RepoSource,
        projectID: String,
        buildID: String,
        deadline: ContinuousClock.Instant,
        eventLoop: any EventLoop,
        stream: @escaping @Sendable (ByteBuffer) async throws -> Void
    ) async throws(ServiceError) -> String {
        let mirror = mirrorsDirectory + "/" + projectID + ".git"
        // The shared update has a deadline of its own: one client's short timeout must not
        // fail every build waiting on the same fetch.
        let shared = await mirrors.task(projectID) {
            await self.updateMirror(
                mirror,
                url: repo.url,
                refs: repo.refs,
                projectID: projectID,
                deadline: .now + Self.mirrorUpdateLimit,
                eventLoop: eventLoop
            )
        }
        guard let update = await MirrorUpdates.outcome(of: shared, until: deadline) else {
            throw ServiceError(.timeout, "the build's time ran out while fetching \(repo.url)")
        }
        guard update.succeeded else {
            try? await stream(ByteBuffer(string: update.output))
            if update.timedOut { throw ServiceError(.timeout, "the build's time ran out while fetching \(repo.url)") }
            throw ServiceError(.repoCloneFailed, "cannot fetch \(repo.url): \(Self.lastLine(update.output))")
        }
        let commit = try await resolve(repo, in: mirror, deadline: deadline, eventLoop: eventLoop)
        let workspace = buildsDirectory + "/" + buildID
        if let spare = await spares.take(projectID), await handOver(spare, to: workspace, eventLoop: eventLoop) {
            // A ready checkout: only the files that differ from its commit get written below.
        } else {
            let clone = await cloneShared(mirror, into: workspace, deadline: deadline, eventLoop: eventLoop, stream: stream)
            guard clone.succeeded else {
                throw ServiceError(clone.timedOut ? .timeout : .repoCloneFailed, "cannot create the checkout: \(Self.lastLine(clone.output))")
            }
        }
        let checkout = await detach(workspace, at: commit, deadline: deadline, eventLoop: eventLoop, stream: stream)
        // The next build's checkout is made once this one's is ready, not competing with it.
        await spares.refill(projectID) {
            await makeSpare(of: mirror, projectID: projectID, at: commit, eventLoop: eventLoop)
        }
        guard checkout.succeeded else {
            throw ServiceError(
                checkout.timedOut ? .timeout : .repoCheckoutFailed,
                "cannot check out \"\(repo.ref)\" (\(commit)): \(Self.lastLine(checkout.output))"
            )
        }
        guard let checkout = ProjectTree.open(root: workspace) else {
            throw ServiceError(.workspaceCreateFailed, "the checkout of build \(buildID) disappeared")
        }
        defer { checkout.handle.close() }
        guard let subdir = repo.subdir, !subdir.isEmpty else { return checkout.root }
        // Resolved beneath the checkout by the kernel: a committed symlink may lead elsewhere
        // in the checkout, never out of it.
        guard case .inside(let directory) = checkout.lookUp(subdir, directory: true), let resolved = directory.path else {
            throw ServiceError(.repoSubdirInvalid, "repo_subdir \"\(subdir)\" is not a directory inside the checkout")
        }
        directory.close()
        return resolved
    }

    /// The config every git on a mirror reads instead of the daemon user's own: trusts the
    /// operator's local `repo_url` repositories (git would refuse one another user owns as
    /// "dubious ownership", in the upload-pack it starts, which sees neither `-c` nor
    /// GIT_CONFIG_PARAMETERS), and runs no hooks, no fsmonitor and no `ext::` commands.
    var mirrorConfig: String { root + "/gitconfig-mirrors" }

    /// The config the build user's `clone --shared` and checkout read instead of that user's own
    /// (which a build could have written): trusts the mirror, runs no hooks and no fsmonitor.
    var trustingConfig: String { root + "/gitconfig-local-sources" }

    /// A checkout that borrows the mirror's objects (nothing copied), with no files yet.
    private func cloneShared(
        _ mirror: String,
        into directory: String,
        deadline: ContinuousClock.Instant,
        eventLoop: any EventLoop,
        stream: (@Sendable (ByteBuffer) async throws -> Void)?
    ) async -> HelperOutcome {
        await git(
            [
                "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "clone", "--shared", "--no-checkout", "--quiet", "--", mirror,
                directory,
            ],
            in: buildsDirectory,
            deadline: deadline,
            eventLoop: eventLoop,
            stream: stream,
            environment: ["GIT_CONFIG_GLOBAL=\(trustingConfig)"]
        )
    }

    /// A spare checkout of the mirror at `commit`, made as the daemon in `spares/`; nil if git failed.
    private func makeSpare(of mirror: String, projectID: String, at commit: String, eventLoop: any EventLoop) async -> String? {
        let path = sparesDirectory + "/" + projectID + ".\(UInt32.random(in: 0...UInt32.max))"
        let deadline = ContinuousClock.now + .seconds(600)
        let clone = await mirrorGit(["clone", "--shared", "--no-checkout", "--quiet", "--", mirror, path], deadline: deadline, eventLoop: eventLoop)
        if clone.succeeded {
            let checkout = await mirrorGit(
                ["-C", path, "-c", "advice.detachedHead=false", "-c", "checkout.workers=0", "checkout", "--quiet", "--detach", commit],
                deadline: deadline,
                eventLoop: eventLoop
            )
            // Files written in the same second as the index are "racily clean" to git, which
            // then reads every one of them again at the build's checkout. Dated two seconds back
            // (by the mirror user: `touch -h` changes links, not their targets) and the index
            // written anew, the spare's index is trusted as it is.
            if checkout.succeeded {
                let earlier = "@\(Int(Date().timeIntervalSince1970) - 2)"
                let backdate = await run(
                    "/usr/bin/find",
                    [path, "-mindepth", "1", "-path", path + "/.git", "-prune", "-o", "-exec", "/usr/bin/touch", "-h", "-d", earlier, "{}", "+"],
                    in: mirrorsDirectory,
                    deadline: deadline,
                    eventLoop: eventLoop,
                    stream: nil,
                    environment: [],
                    runner: mirrorRunner
                )
                let refresh =
                    backdate.succeeded
                    ? await mirrorGit(["-C", path, "update-index", "-q", "--refresh"], deadline: deadline, eventLoop: eventLoop) : backdate
                if refresh.succeeded { return path }
            }
        }
        await removeSpare(path, eventLoop: eventLoop)
        return nil
    }

    /// Gives a spare to the build: every file to the build user (walked by descriptor, links
    /// changed themselves and never followed; see `bs_chown_tree`), then renamed into
    /// `builds/`. Done before the rename, while no build can reach the tree. False (and the
    /// spare removed) if that fails.
    private func handOver(_ spare: String, to workspace: String, eventLoop: any EventLoop) async -> Bool {
        let (identity, mirrorIdentity) = (self.identity, self.mirrorIdentity)
        let done = try? await NIOThreadPool.singleton.runIfActive { () -> Bool in
            guard identity.switchesIdentity else { return rename(spare, workspace) == 0 }
            if bs_chown_tree(spare, identity.uid, identity.gid) == 0, rename(spare, workspace) == 0 { return true }
            // What was handed over goes back (the walk stops where it stopped before), so that
            // the mirror user can remove the tree: it could not empty the build user's directories.
            _ = bs_chown_tree(spare, mirrorIdentity.uid, mirrorIdentity.gid)
            return false
        }
        if done == true { return true }
        await removeSpare(spare, eventLoop: eventLoop)
        return false
    }

    /// Removes a spare (or a half-made clone) with the mirror user's rights, like its owner would.
    private func removeSpare(_ path: String, eventLoop: any EventLoop) async {
        _ = await run(
            "/bin/rm",
            ["-rf", "--", path],
            in: mirrorsDirectory,
            deadline: .now + .seconds(600),
            eventLoop: eventLoop,
            stream: nil,
            environment: [],
            runner: mirrorRunner
        )
    }

    /// The checkout's files at `commit` (a resolved id, never a name), written in parallel.
    /// Neither ctime nor owner is compared: a spare's files were handed over by chown, which
    /// changes both without changing the files.
    private func detach(
        _ directory: String,
        at commit: String,
        deadline: ContinuousClock.Instant,
        eventLoop: any EventLoop,
        stream: (@Sendable (ByteBuffer) async throws -> Void)?
    ) async -> HelperOutcome {
        await git(
            [
                "-c", "advice.detachedHead=false", "-c", "checkout.workers=0", "-c", "core.trustctime=false",
                "-c", "core.checkStat=minimal", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
                "checkout", "--quiet", "--detach", commit,
            ],
            in: directory,
            deadline: deadline,
            eventLoop: eventLoop,
            stream: stream,
            // Not the build user's ~/.gitconfig: a build must not plant config that the next
            // checkout (of any project) would run.
            environment: ["GIT_CONFIG_GLOBAL=\(trustingConfig)"]
        )
    }

    /// The commit `repo.ref` names in the mirror: a branch, a tag, an allowed ref, or a commit
    /// id that one of those reaches (a mirror keeps objects whose ref is gone, and a commit id
    /// must not reach them). What gets checked out is the plain id, which cannot be read as
    /// anything else.
    /// - Throws: `repo_checkout_failed` naming the ref.
    private func resolve(
        _ repo: RepoSource,
        in mirror: String,
        deadline: ContinuousClock.Instant,
        eventLoop: any EventLoop
    ) async throws(ServiceError) -> String {
        var unreachable: String?
        for candidate in repo.refs.candidates(repo.ref) {
            let name: String
            switch candidate {
            case .ref(let ref): name = ref
            case .commitID(let id): name = id
            }
            let resolved = await mirrorGit(
                ["--git-dir=\(mirror)", "rev-parse", "--verify", "--quiet", "--end-of-options", name + "^{commit}"],
                deadline: deadline,
                eventLoop: eventLoop
            )
            let commit = resolved.output.trimmingCharacters(in: .whitespacesAndNewlines)
            guard resolved.succeeded, commit.count == 40, commit.allSatisfy(\.isHexDigit) else { continue }
            if case .commitID = candidate {
                let containing = await mirrorGit(
                    ["--git-dir=\(mirror)", "for-each-ref", "--contains", commit, "--format=%(refname)", "--end-of-options"]
                        + repo.refs.listingPrefixes,
                    deadline: deadline,
                    eventLoop: eventLoop
                )
                guard containing.succeeded, containing.output.split(separator: "\n").contains(where: { repo.refs.keeps(String($0)) }) else {
                    unreachable = commit
                    continue
                }
            }
            return commit
        }
        if let unreachable {
            throw ServiceError(
                .repoCheckoutFailed,
                "commit \(unreachable) (ref \"\(repo.ref)\") is on no branch or tag of \(repo.url)"
                    + (repo.refs.allowedPatterns.isEmpty ? "" : " nor on a ref that allowed_refs names")
            )
        }
        throw ServiceError(.repoCheckoutFailed, "ref \"\(repo.ref)\" does not name a branch, tag or commit in \(repo.url)")
    }

    /// Removes a build's checkout (after its processes are gone).
    /// The tree belongs to the build user, whose leftover processes (one that left the process
    /// group with setsid, say) could swap its directories for symlinks while it is removed: so
    /// it is removed with that user's rights (GNU rm walks by descriptor, not by path), never
    /// the daemon's.
    /// - Returns: why the checkout could not be removed (for the log), or nil.
    @discardableResult
    func remove(buildID: String, eventLoop: any EventLoop) async -> String? {
        await removeTree(buildsDirectory + "/" + buildID, eventLoop: eventLoop)
    }

    /// Removes a tree the build user owns, with that user's rights (see `remove(buildID:)`).
    /// Directories a build made read-only are opened up (`chmod -R u+rwX`, which does not follow
    /// links) and the removal tried again only if `rm` could not empty them: one process for
    /// the usual checkout.
    /// - Returns: rm's complaint when something is left, or nil.
    @discardableResult
    private func removeTree(_ path: String, eventLoop: any EventLoop) async -> String? {
        let deadline = ContinuousClock.now + .seconds(600)
        func asBuildUser(_ tool: String, _ arguments: [String]) async -> HelperOutcome {
            await run(tool, arguments, in: buildsDirectory, deadline: deadline, eventLoop: eventLoop, stream: nil, environment: [])
        }
        if await asBuildUser("/bin/rm", ["-rf", "--", path]).succeeded { return nil }
        _ = await asBuildUser("/bin/chmod", ["-R", "u+rwX", "--", path])
        let again = await asBuildUser("/bin/rm", ["-rf", "--", path])
        return again.succeeded ? nil : Self.lastLine(again.output)
    }

    /// Clones or fetches the mirror, as the daemon.
    /// Brings the mirror up to date: branches, tags and `allowed_refs` only, each under its own
    /// name, pruned when gone upstream; any other ref (a mirror from an earlier version was a
    /// `clone --mirror`, with a forge's pull requests) is deleted.
    private func updateMirror(
        _ mirror: String,
        url: String,
        refs: MirrorRefs,
        projectID: String,
        deadline: ContinuousClock.Instant,
        eventLoop: any EventLoop
    ) async -> HelperOutcome {
        let fetch = ["--git-dir=\(mirror)", "fetch", "--prune", "--quiet", "--", url] + refs.refspecs
        if FileManager.default.fileExists(atPath: mirror) {
            let fetched = await mirrorGit(fetch, deadline: deadline, eventLoop: eventLoop)
            if fetched.succeeded { await dropRefsNotKept(in: mirror, refs: refs, deadline: deadline, eventLoop: eventLoop) }
            return fetched
        }
        // Cloned beside, then renamed: a failed or interrupted clone never looks like a mirror.
        // A bare clone takes branches and tags (and the remote's default branch as HEAD).
        let temporary = mirrorsDirectory + "/.\(projectID).git.\(UInt32.random(in: 0...UInt32.max))"
        var clone = await mirrorGit(["clone", "--bare", "--quiet", "--", url, temporary], deadline: deadline, eventLoop: eventLoop)
        if clone.succeeded, !refs.allowedPatterns.isEmpty {
            clone = await mirrorGit(["--git-dir=\(temporary)"] + fetch.dropFirst(), deadline: deadline, eventLoop: eventLoop)
        }
        guard clone.succeeded, rename(temporary, mirror) == 0 else {
            // The mirror user's tree, removed with its rights: the daemon does not walk it.
            await removeSpare(temporary, eventLoop: eventLoop)
            return clone
        }
        return clone
    }

    private func dropRefsNotKept(in mirror: String, refs: MirrorRefs, deadline: ContinuousClock.Instant, eventLoop: any EventLoop) async {
        let listed = await mirrorGit(["--git-dir=\(mirror)", "for-each-ref", "--format=%(refname)"], deadline: deadline, eventLoop: eventLoop)
        guard listed.succeeded else { return }
        for ref in listed.output.split(separator: "\n").map(String.init) where !refs.keeps(ref) {
            _ = await mirrorGit(["--git-dir=\(mirror)", "update-ref", "--no-deref", "-d", ref], deadline: deadline, eventLoop: eventLoop)
        }
    }

    /// git on a mirror: the daemon's user and config (see `mirrorConfig`).
    private func mirrorGit(_ arguments: [String], deadline: ContinuousClock.Instant, eventLoop: any EventLoop) async -> HelperOutcome {
        await run(
            gitPath,
            // No hooks, no fsmonitor, and no automatic gc, which would detach from its process
            // group and could prune objects that checkouts borrow.
            ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "gc.auto=0", "-c", "maintenance.auto=false"]
                + arguments,
            in: mirrorsDirectory,
            deadline: deadline,
            eventLoop: eventLoop,
            stream: nil,
            environment: Self.gitEnvironment + ["GIT_CONFIG_GLOBAL=\(mirrorConfig)"],
            runner: mirrorRunner
        )
    }

    /// Runs git like a build step: the build's user, own process group, the time left.
    private func git(
        _ arguments: [String],
        in directory: String,
        deadline: ContinuousClock.Instant,
        eventLoop: any EventLoop,
        stream: (@Sendable (ByteBuffer) async throws -> Void)?,
        environment: [String] = []
    ) async -> HelperOutcome {
        await run(
            gitPath,
            arguments,
            in: directory,
            deadline: deadline,
            eventLoop: eventLoop,
            stream: stream,
            environment: Self.gitEnvironment + environment
        )
    }

    /// Runs a helper program like a build step: the build's user (or `runner`'s), own process
    /// group, the time left.
    private func run(
        _ executable: String,
        _ arguments: [String],
        in directory: String,
        deadline: ContinuousClock.Instant,
        eventLoop: any EventLoop,
        stream: (@Sendable (ByteBuffer) async throws -> Void)?,
        environment: [String],
        runner: BuildRunner? = nil
    ) async -> HelperOutcome {
        let runner = runner ?? self.runner
        let remaining = deadline - ContinuousClock.now
        guard remaining > .zero else { return HelperOutcome(succeeded: false, timedOut: true, output: "") }
        let spec = ProcessSpec.helper(
            executable,
            arguments,
            owner: "repo workspaces",
            in: directory,
            timeoutSec: max(1, Int(remaining.components.seconds)),
            environment: environment
        )
        let running: RunningBuild
        do {
            running = try runner.start(spec, on: eventLoop)
        } catch {
            return HelperOutcome(succeeded: false, timedOut: false, output: "cannot run \(executable): \(error.message)")
        }
        let captured = NIOLockedValueBox(ByteBuffer())
        let result = await running.relay { _, bytes in
            captured.withLockedValue { buffer in
                // The tail is what explains a failure; keep at most 64 KiB of it.
                if buffer.readableBytes > 65_536 { buffer.moveReaderIndex(forwardBy: buffer.readableBytes - 32_768) }
                var copy = bytes
                buffer.writeBuffer(&copy)
            }
            try await stream?(bytes)
        }
        // Nothing of git's may still write to the mirror or checkout once we go on.
        await result.lookForLeftovers()
        let output = captured.withLockedValue { String(buffer: $0) }
        return HelperOutcome(succeeded: result.exitCode == 0 && !result.timedOut, timedOut: result.timedOut, output: output)
    }

    /// git's own explanation: its first `fatal:`/`error:` line, else its last line.
    private static func lastLine(_ output: String) -> String {
        let lines = output.split(separator: "\n")
        let reason = lines.first { $0.hasPrefix("fatal:") || $0.hasPrefix("error:") } ?? lines.last
        return reason.map(String.init) ?? "git failed without a message"
    }
}
