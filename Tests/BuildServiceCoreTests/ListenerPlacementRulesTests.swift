import Foundation
import Testing

@testable import BuildServiceCore

/// What `check-config` concludes from the process's situation, for situations this machine
/// cannot put a test process in (a read-only /run, a user other than root).
@Suite struct ListenerPlacementRulesTests {
    private let config = try! ServiceConfig.parse(
        toml: """
            schema_version = "2"
            [service.socket]
            path = "/run/build-service.sock"
            [service.http]
            enabled = true
            listen_addr = "0.0.0.0:443"
            [build]
            allow_root_builds = true
            [build.commands]
            make = "/usr/bin/make"
            """
    )

    private func placement(
        runtime: [String] = ["/run/build-service"],
        root: Bool = true,
        capability: Bool = true,
        readOnly: Set<String> = ["/run"],
        problem: String = "Read-only file system"
    ) -> ListenerPlacement {
        ListenerPlacement(
            runtimeDirectories: runtime,
            isRoot: root,
            canBindPrivilegedPorts: capability,
            unprivilegedPortStart: 1024,
            directoryProblem: { readOnly.contains($0) ? problem : nil }
        )
    }

    /// The shipped unit of the first round with the original's socket path: ProtectSystem=strict
    /// leaves /run read-only.
    @Test func theOriginalSocketPathUnderTheUnitIsAnErrorNamingTheRuntimeDirectory() {
        let findings = placement().check(config)
        #expect(findings.errors.map(\.key) == ["service.socket.path"])
        #expect(findings.errors.first?.message.contains("Read-only file system") == true)
        #expect(findings.errors.first?.message.contains("/run/build-service/build.sock") == true)
    }

    @Test func outsideSystemdAWritableDirectoryIsFine() {
        let findings = placement(runtime: [], readOnly: []).check(config)
        #expect(findings == ListenerPlacement.Findings())
    }

    /// An operator checking the file as themselves: the root daemon may still manage.
    @Test func aUserOtherThanRootGetsWarningsNotErrors() {
        let findings = placement(runtime: [], root: false, capability: false).check(config)
        #expect(findings.errors.isEmpty)
        #expect(findings.warnings.count == 2)
        #expect(findings.warnings.allSatisfy { $0.contains("not root") })
    }

    /// `sudo build-service check-config` before the unit's first start: /run/build-service is
    /// made by RuntimeDirectory= at start. The daemon itself cannot bind there, so for it the
    /// same is an error.
    @Test func aMissingDirectoryOutsideSystemdIsAWarningForCheckConfigAndAnErrorForTheDaemon() {
        let missing = placement(runtime: [], readOnly: ["/run"], problem: String(cString: strerror(ENOENT)))
        let checked = missing.check(config)
        #expect(checked.errors.isEmpty)
        #expect(checked.warnings.contains { $0.contains("RuntimeDirectory") })
        #expect(missing.check(config, forDaemon: true).errors.map(\.key) == ["service.socket.path"])
    }

    @Test func port443WithoutTheCapabilityIsAnErrorForRoot() {
        let findings = placement(runtime: [], capability: false, readOnly: []).check(config)
        #expect(findings.errors.map(\.key) == ["service.http.listen_addr"])
        #expect(findings.errors.first?.message.contains("CAP_NET_BIND_SERVICE") == true)
    }
}
