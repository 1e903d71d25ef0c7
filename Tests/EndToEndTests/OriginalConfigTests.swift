import Foundation
import Testing

/// The original build-service's sample config (its project list's undefined `ninja` dropped),
/// with only its host paths moved into a scratch directory: it must start, with warnings and
/// notes but no error, and answer the original's one-line requests.
@Suite struct OriginalConfigTests {
    static func sample(in directory: String, runAsUser: String?) -> String {
        """
        schema_version = "2"

        [service]

        [service.socket]
        enabled = true
        path = "\(directory)/build-service.sock"
        group = "users"
        mode = "0660"

        [service.socket.auth]
        required = false

        [service.http]
        enabled = false
        listen_addr = "0.0.0.0:8080"

        [service.http.auth]
        type = "bearer"
        required = false

        [service.http.tls]
        enabled = false

        [build]
        workspace_root = "\(directory)/home"
        \(runAsUser.map { "run_as_user = \"\($0)\"" } ?? "# run_as_user = \"build\"")

        [build.commands]
        make = "/usr/bin/make"

        [build.timeouts]
        default_sec = 600
        max_sec = 1800

        [build.environment]
        allow = [
            "PATH", "HOME", "USER", "LANG", "CC", "CXX", "CFLAGS", "CXXFLAGS",
            "LDFLAGS", "PKG_CONFIG_PATH", "MAKEFLAGS",
        ]

        [artifacts]
        storage_root = "\(directory)/artifacts"
        public_base_url = "https://builds.example.com/artifacts"

        [[projects]]
        id = "sip-stack"
        type = "repo"
        repo_url = "https://github.com/org/sip-stack.git"
        repo_ref = "main"
        repo_subdir = "./"
        commands = ["make"]
        artifacts = ["bin/app", "dist/*.tar.gz"]

        [[projects]]
        id = "nfs-tooling"
        type = "path"
        path_root = "\(directory)/mnt/nfs/tooling"
        commands = ["make"]
        artifacts = ["out/tool"]

        [logging]
        level = "info"
        directory = "\(directory)/log"
        max_bytes = 104857600
        max_files = 5
        console = false

        """
    }

    @Test(.enabled(if: getuid() == 0, "the sample's socket group and run_as_user need a root daemon"))
    func theOriginalsSampleStartsWithWarningsAndServesItsClients() async throws {
        let directory = try DaemonUnderTest.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/config.toml"
        // As the sample says: without run_as_user, a root daemon refuses, naming the key.
        try Self.sample(in: directory, runAsUser: nil).write(toFile: config, atomically: false, encoding: .utf8)
        let refused = try await TestProcess.run(
            TestProcess.binary("build-service"),
            ["check-config", "--config", config],
            outputDirectory: directory
        )
        #expect(refused.status != 0)
        #expect(refused.stderrText.contains("build.run_as_user") && refused.stderrText.contains("allow_root_builds"), "\(refused.stderrText)")

        try Self.sample(in: directory, runAsUser: "nobody").write(toFile: config, atomically: false, encoding: .utf8)
        let checked = try await TestProcess.run(
            TestProcess.binary("build-service"),
            ["check-config", "--config", config],
            outputDirectory: directory
        )
        #expect(checked.status == 0, "\(checked.stdoutText) \(checked.stderrText)")
        #expect(checked.stdoutText.contains("warning: projects[1].path_root"), "\(checked.stdoutText)")
        #expect(checked.stdoutText.contains("note: builds queue"), "\(checked.stdoutText)")

        let daemon = try TestProcess.start(TestProcess.binary("build-service"), ["--config", config], outputDirectory: directory)
        defer { daemon.signal(SIGKILL) }
        let socket = directory + "/build-service.sock"
        #expect(await eventually { FileManager.default.fileExists(atPath: socket) }, "\(daemon.stderrSoFar)")
        // The original's client: one JSON line; the NFS root is not mounted yet.
        let line = requestJSON(["project_id": "nfs-tooling", "command": "make", "args": ["all"], "request_id": "make all"])
        let answer = try await TestProcess.run(
            "/usr/bin/socat",
            ["-t", "30", "-", "UNIX-CONNECT:\(socket)"],
            stdin: Data((line + "\n").utf8),
            outputDirectory: directory
        )
        #expect(answer.stdoutText.contains(#""code":"path_root_invalid""#), "\(answer.stdoutText)")
        #expect(answer.stdoutText.contains(#""type":"exit""#))
        // Mounted later: the same request builds, as the original's would.
        try FileManager.default.createDirectory(atPath: directory + "/mnt/nfs/tooling", withIntermediateDirectories: true)
        chmod(directory + "/mnt", 0o755)
        try "all:\n\t@echo built\n".write(toFile: directory + "/mnt/nfs/tooling/Makefile", atomically: false, encoding: .utf8)
        let later = try await TestProcess.run(
            "/usr/bin/socat",
            ["-t", "30", "-", "UNIX-CONNECT:\(socket)"],
            stdin: Data((line + "\n").utf8),
            outputDirectory: directory
        )
        #expect(later.stdoutText.contains(#""data":"built\n""#), "\(later.stdoutText)")
        let log = (try? String(contentsOfFile: directory + "/log/build-service.log", encoding: .utf8)) ?? ""
        #expect(log.contains("unlike the original build-service"), "\(log)")
        daemon.signal(SIGTERM)
        _ = await daemon.wait()
    }
}
