import Foundation
import Testing

/// The Debian packages of scripts/package-deb.sh, as an operator installs them: their contents,
/// binaries that run without the Swift toolchain, and the unit as shipped under a real systemd
/// (scripts/package-test/run.sh boots one in a container). scripts/test.sh makes the packages
/// before the suite; run alone, the first test here makes them.
@Suite(.serialized, .enabled(if: geteuid() == 0, "installs packages into a container, as root"))
struct PackageTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let debDirectory = packageRoot + "/.build/deb"

    /// The .deb of `package`, made by scripts/package-deb.sh if it is not there yet.
    static func deb(_ package: String) async throws -> String {
        func find() -> String? {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: debDirectory)) ?? []
            return names.first { $0.hasPrefix(package + "_") && $0.hasSuffix(".deb") }.map { debDirectory + "/" + $0 }
        }
        if let found = find() { return found }
        let made = try await TestProcess.run("/bin/sh", [packageRoot + "/scripts/package-deb.sh"], outputDirectory: NSTemporaryDirectory())
        try #require(made.status == 0, "package-deb.sh: \(made.stderrText.suffix(2000))")
        return try #require(find())
    }

    private func run(_ program: String, _ arguments: [String]) async throws -> ProcessResult {
        try await TestProcess.run(program, arguments, outputDirectory: NSTemporaryDirectory())
    }

    /// Every file with its mode and owner (`dpkg-deb -c`), and the conffiles.
    @Test func theServicePackageHoldsWhatAnOperatorNeeds() async throws {
        let deb = try await Self.deb("build-service")
        let listing = try await run("/usr/bin/dpkg-deb", ["-c", deb])
        #expect(listing.status == 0)
        let files = Self.entries(listing.stdoutText)
        let expected: [String: String] = [
            "./usr/bin/build-service": "-rwxr-xr-x root/root",
            "./lib/systemd/system/build-service.service": "-rw-r--r-- root/root",
            "./etc/build-service/config.toml": "-rw-r----- root/root",
            "./usr/lib/sysusers.d/build-service.conf": "-rw-r--r-- root/root",
            "./usr/lib/tmpfiles.d/build-service.conf": "-rw-r--r-- root/root",
            "./usr/share/man/man8/build-service.8.gz": "-rw-r--r-- root/root",
            "./usr/share/man/man5/build-service.toml.5.gz": "-rw-r--r-- root/root",
            "./usr/share/bash-completion/completions/build-service": "-rw-r--r-- root/root",
            "./usr/share/zsh/vendor-completions/_build-service": "-rw-r--r-- root/root",
            "./usr/share/fish/vendor_completions.d/build-service.fish": "-rw-r--r-- root/root",
            "./usr/share/doc/build-service/copyright": "-rw-r--r-- root/root",
            "./usr/share/doc/build-service/changelog.gz": "-rw-r--r-- root/root",
            "./usr/share/doc/build-service/README.md": "-rw-r--r-- root/root",
            "./usr/share/doc/build-service/docs/configuration.md": "-rw-r--r-- root/root",
        ]
        for (path, modeAndOwner) in expected {
            #expect(files[path] == modeAndOwner, "\(path): \(files[path] ?? "missing")")
        }
        // Nothing of the build machine: no toolchain, no debug files, no build paths.
        #expect(!files.keys.contains { $0.contains(".debug") || $0.contains("/.build/") || $0.contains("swift") })
        // What else there is: directories, and the docs.
        let unexpected = files.filter { path, mode in
            expected[path] == nil && !mode.hasPrefix("d") && !path.hasPrefix("./usr/share/doc/build-service/docs/")
        }
        #expect(unexpected.isEmpty, "\(unexpected)")

        let control = try await run("/usr/bin/dpkg-deb", ["-I", deb, "conffiles"])
        #expect(control.stdoutText == "/etc/build-service/config.toml\n")
        let fields = try await run("/usr/bin/dpkg-deb", ["-f", deb, "Depends"])
        #expect(fields.stdoutText.contains("libssl3"), "\(fields.stdoutText)")
        #expect(!fields.stdoutText.contains("swift"), "\(fields.stdoutText)")
    }

    @Test func theClientPackageHoldsBuildCLIAndTheMakeWrapper() async throws {
        let deb = try await Self.deb("build-cli")
        let files = Self.entries(try await run("/usr/bin/dpkg-deb", ["-c", deb]).stdoutText)
        #expect(files["./usr/bin/build-cli"] == "-rwxr-xr-x root/root")
        #expect(files["./usr/libexec/build-cli/make"] == "-rwxr-xr-x root/root")
        #expect(files["./usr/share/man/man1/build-cli.1.gz"] == "-rw-r--r-- root/root")
        #expect(files["./usr/share/bash-completion/completions/build-cli"] == "-rw-r--r-- root/root")
        #expect(!files.keys.contains { $0.contains("build-service") && !$0.contains("/doc/") })
    }

    /// The installed binaries in a mount namespace where the Swift toolchain is an empty
    /// directory: they must not need it (the toolchain-linked build failed there).
    @Test func theBinariesRunWithTheSwiftToolchainHidden() async throws {
        let root = try DaemonUnderTest.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for package in ["build-service", "build-cli"] {
            let extracted = try await run("/usr/bin/dpkg-deb", ["-x", try await Self.deb(package), root])
            #expect(extracted.status == 0)
        }
        // The toolchain is wherever the development build finds libswiftCore.
        let ldd = try await run("/usr/bin/ldd", [TestProcess.binary("build-service")])
        let core = try #require(
            ldd.stdoutText.split(separator: "\n").compactMap { line in
                line.contains("libswiftCore.so") ? line.split(separator: " ").first { $0.hasPrefix("/") } : nil
            }.first,
            "\(ldd.stdoutText)"
        )
        let toolchain = String(core[..<core.range(of: "/usr/lib/swift")!.lowerBound])
        let script = """
            mount -t tmpfs empty \(toolchain) || exit 99
            test ! -e \(toolchain)/usr/lib/swift/linux/libswiftCore.so || exit 98
            "$0"/usr/bin/build-service --version && "$0"/usr/bin/build-cli --version
            """
        let result = try await run("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script, root])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText.contains("build-service 0."), "\(result.stdoutText)")
        #expect(result.stdoutText.contains("build-cli 0."), "\(result.stdoutText)")
        #expect(result.stdoutText.contains("OpenSSL 3"), "\(result.stdoutText)")
    }

    /// A real systemd boots in a container, the packages are installed, the unit starts as
    /// shipped and builds run over the socket and HTTPS (scripts/package-test/driver.sh lists
    /// every check).
    @Test func theUnitWorksAsShippedUnderARealSystemd() async throws {
        _ = try await Self.deb("build-service")
        _ = try await Self.deb("build-cli")
        let out = try DaemonUnderTest.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try await run("/bin/sh", [Self.packageRoot + "/scripts/package-test/run.sh", Self.debDirectory, out])
        let results = (try? String(contentsOfFile: out + "/results", encoding: .utf8)) ?? ""
        #expect(result.status == 0, "\(results)\n\(result.stderrText.suffix(2000))")
        #expect(results.contains("ok socket-build-as-build-member"), "\(results)")
        #expect(results.contains("ok https-build-on-443"), "\(results)")
        #expect(results.contains("ok exposure-at-most-3"), "\(results)")
        #expect(results.contains("failures 0"), "\(results)")
    }

    /// The documented Dockerfile with the build-cli package, run by rootful podman as uid
    /// 4242: the socket's directory mounted at /run/build-service (build-cli's default), the
    /// socket's group joined by number, `make` the wrapper. Without the group: refused.
    @Test func makeInAContainerBuildsThroughTheMountedSocketDirectory() async throws {
        _ = try await Self.deb("build-cli")
        var options = DaemonUnderTest.Options()
        options.socketGroup = "users"
        options.socketName = "build.sock"
        let daemon = try await DaemonUnderTest(options)
        try """
        container:
        	@echo "built as $$(id -u) with umask $$(umask)" > built.txt
        	@cat built.txt

        """.write(toFile: daemon.projectRoot + "/Makefile", atomically: false, encoding: .utf8)
        let script = Self.packageRoot + "/scripts/package-test/container.sh"
        let gid = String(getgrnam("users").pointee.gr_gid)
        let joined = try await run("/bin/sh", [script, Self.debDirectory, daemon.directory, daemon.projectRoot, gid, "demo", "container"])
        #expect(joined.status == 0, "\(joined.stderrText.suffix(2000))")
        #expect(joined.stdoutText.contains("built as 0 with umask 0022"), "\(joined.stdoutText)")
        var info = stat()
        #expect(stat(daemon.projectRoot + "/built.txt", &info) == 0)
        #expect(info.st_mode & 0o777 == 0o644, "the container's user reads what the build made")

        let stranger = try await run("/bin/sh", [script, Self.debDirectory, daemon.directory, daemon.projectRoot, "-", "demo", "container"])
        #expect(stranger.status == 69, "\(stranger.stderrText.suffix(2000))")
        #expect(stranger.stderrText.contains("/run/build-service/build.sock"), "\(stranger.stderrText.suffix(600))")
        #expect(stranger.stderrText.contains("Permission denied"), "\(stranger.stderrText.suffix(600))")
        await daemon.stop()
    }

    /// `dpkg-deb -c` lines as path -> "mode owner/group".
    static func entries(_ listing: String) -> [String: String] {
        var files: [String: String] = [:]
        for line in listing.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6 else { continue }
            var path = String(fields[5])
            if path.hasSuffix("/") && path != "./" { path.removeLast() }
            files[path] = "\(fields[0]) \(fields[1])"
        }
        return files
    }
}
