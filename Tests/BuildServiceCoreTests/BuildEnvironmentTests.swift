import BuildServiceCore
import Testing

/// `BuildRunner.buildEnvironment`: a build sees only allowlisted daemon variables, and always
/// the run-as user's HOME, USER and LOGNAME.
struct BuildEnvironmentTests {
    private static func identity(user: String, home: String) throws -> RunAsIdentity {
        var identity = try RunAsIdentity.resolve(user: nil, group: nil)
        identity.userName = user
        identity.home = home
        return identity
    }

    private static let daemonEnvironment = [
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "SECRET_TOKEN": "do-not-leak",
        "LD_PRELOAD": "/tmp/evil.so",
        "HOME": "/root",
        "USER": "root",
        "LOGNAME": "root",
    ]

    @Test func onlyAllowedVariablesPass() throws {
        let environment = BuildRunner.buildEnvironment(
            allow: ["PATH", "LANG", "LC_ALL"],
            daemonEnvironment: Self.daemonEnvironment,
            identity: try Self.identity(user: "builder", home: "/home/builder")
        )
        #expect(
            environment == [
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "LANG": "C.UTF-8",
                "HOME": "/home/builder",
                "USER": "builder",
                "LOGNAME": "builder",
            ]
        )
    }

    @Test func identityWinsOverAllowedHomeUserAndLogname() throws {
        let environment = BuildRunner.buildEnvironment(
            allow: ["HOME", "USER", "LOGNAME"],
            daemonEnvironment: Self.daemonEnvironment,
            identity: try Self.identity(user: "builder", home: "/home/builder")
        )
        #expect(environment == ["HOME": "/home/builder", "USER": "builder", "LOGNAME": "builder"])
    }

    @Test func emptyAllowListGivesOnlyTheIdentity() throws {
        let environment = BuildRunner.buildEnvironment(
            allow: [],
            daemonEnvironment: Self.daemonEnvironment,
            identity: try Self.identity(user: "ci", home: "/var/lib/ci")
        )
        #expect(environment == ["HOME": "/var/lib/ci", "USER": "ci", "LOGNAME": "ci"])
    }

    @Test func allowedNamesMatchExactly() throws {
        let environment = BuildRunner.buildEnvironment(
            allow: ["path", "SECRET", "LANG"],
            daemonEnvironment: Self.daemonEnvironment,
            identity: try Self.identity(user: "builder", home: "/home/builder")
        )
        #expect(environment["PATH"] == nil)
        #expect(environment["SECRET_TOKEN"] == nil)
        #expect(environment["LANG"] == "C.UTF-8")
        #expect(environment.count == 4)
    }
}
