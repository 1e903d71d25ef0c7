import BuildServiceCore
import Testing

/// The sandbox's own verdicts, with stand-ins for the parser: one that survives, one that
/// aborts as toml++ does, one that hangs, one that cannot be started.
struct TOMLParserSandboxTests {
    private let text = "schema_version = \"2\"\n" + String(repeating: "# padding beyond a pipe's buffer\n", count: 4000)

    @Test func aParserThatSurvivesLetsTheTextThrough() throws {
        try TOMLParserSandbox(executable: "/bin/sh", arguments: ["-c", "cat >/dev/null; exit 1"]).check(text)
    }

    @Test func aParserThatAbortsIsAConfigErrorNotACrash() {
        let sandbox = TOMLParserSandbox(executable: "/bin/sh", arguments: ["-c", "kill -ABRT $$"])
        #expect {
            try sandbox.check(text)
        } throws: { error in
            (error as? ConfigError)?.description.contains("crashed on this file (signal 6)") == true
        }
    }

    @Test func aParserThatHangsIsKilledAtTheLimit() {
        let sandbox = TOMLParserSandbox(executable: "/bin/sleep", arguments: ["60"], limit: .milliseconds(300))
        #expect {
            try sandbox.check("a = 1")
        } throws: { error in
            (error as? ConfigError)?.description.contains("did not finish") == true
        }
    }

    @Test func aParserThatCannotStartRefusesTheText() {
        let sandbox = TOMLParserSandbox(executable: "/nonexistent/parser", arguments: [])
        #expect(throws: ConfigError.self) { try sandbox.check("a = 1") }
    }
}
