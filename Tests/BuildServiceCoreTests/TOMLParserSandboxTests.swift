import BuildServiceCore
import Foundation
import Testing

/// The sandbox's own verdicts, with stand-ins for the parser: one that survives, one that
/// aborts as toml++ does, one that hangs, one that cannot be started.
struct TOMLParserSandboxTests {
    /// Larger than a socket's buffer, so a child that does not read it makes the write wait.
    private let text = "schema_version = \"2\"\n" + String(repeating: "# padding beyond a socket's buffer\n", count: 40_000)

    private func refusal(_ sandbox: TOMLParserSandbox, _ text: String) -> String? {
        do {
            try sandbox.check(text)
            return nil
        } catch {
            return error.description
        }
    }

    /// The parser's two verdicts, config or not, both let the text through to the daemon's
    /// own parse (which then says what is wrong); the whole text must have been read.
    @Test(arguments: [0, 1])
    func aParserThatReadsEverythingAndExitsCleanlyLetsTheTextThrough(status: Int) {
        let sandbox = TOMLParserSandbox(executable: "/bin/sh", arguments: ["-c", "wc -c >/dev/null; exit \(status)"])
        #expect(refusal(sandbox, text) == nil)
    }

    @Test func aParserThatAbortsIsAConfigErrorNotACrash() {
        let sandbox = TOMLParserSandbox(executable: "/bin/sh", arguments: ["-c", "kill -ABRT $$"])
        #expect(refusal(sandbox, text)?.contains("crashed on this file (signal 6)") == true)
    }

    /// Anything but the parser's own verdict refuses the text: another exit status (the
    /// subcommand missing, say), or a child that stopped reading before the end.
    @Test func anyOtherEndRefusesTheText() {
        let usage = TOMLParserSandbox(executable: "/bin/sh", arguments: ["-c", "cat >/dev/null; exit 64"])
        #expect(refusal(usage, text)?.contains("exited with status 64") == true)
        let stopsReading = TOMLParserSandbox(executable: "/bin/sh", arguments: ["-c", "exit 0"])
        #expect(refusal(stopsReading, text)?.contains("stopped reading") == true)
    }

    /// A child that neither reads nor exits: the write and the wait share one deadline.
    @Test func aParserThatHangsIsKilledAtTheLimit() {
        let sandbox = TOMLParserSandbox(executable: "/bin/sleep", arguments: ["60"], limit: .milliseconds(300))
        let clock = ContinuousClock()
        let start = clock.now
        #expect(refusal(sandbox, text)?.contains("did not finish") == true)
        #expect(clock.now - start < .seconds(30), "the check waited for the child instead of killing it")
    }

    @Test func aParserThatCannotStartRefusesTheText() {
        let sandbox = TOMLParserSandbox(executable: "/nonexistent/parser", arguments: [])
        #expect(refusal(sandbox, "a = 1")?.contains("cannot check the config") == true)
    }

    /// The child gets none of the caller's descriptors (the daemon's listening sockets).
    @Test func theParserInheritsNoDescriptors() throws {
        let marker = open("/dev/null", O_RDONLY)  // not close-on-exec
        defer { close(marker) }
        let sandbox = TOMLParserSandbox(
            executable: "/bin/sh",
            arguments: ["-c", "cat >/dev/null; [ -e /proc/self/fd/\(marker) ] && exit 3; exit 0"]
        )
        #expect(refusal(sandbox, "a = 1") == nil)
    }
}
