import Foundation
import NIOCore
import Testing

@testable import BuildServiceProtocol

/// Each event is one NDJSON line that any JSON parser reads, and that `BuildEvent.parse(line:)`
/// turns back into the same event.
struct BuildEventNDJSONTests {
    static let allKinds: [BuildEvent] = [
        .build(id: "bld_0123456789abcdef0123456789abcdef", status: "started"),
        .stdout("compiling main.c\n"),
        .stderr("warning: unused variable\r\n\u{0}\u{1f}\"quoted\" \\ \u{2028}"),
        .stdout(""),
        .warning(code: "timeout_clamped", message: "timeout_sec 9999 is above the maximum; using 3600"),
        .error(code: "spawn_failed", message: "cannot start /usr/bin/make", pattern: nil),
        .error(code: "artifact_glob_miss", message: "no file matched", pattern: "out/*.bin"),
        .exit(BuildExit(code: 0)),
        .exit(BuildExit(code: 124, timedOut: true)),
        .exit(BuildExit(code: -1)),
        .exit(
            BuildExit(
                code: 2,
                artifacts: [
                    ArtifactInfo(name: "app \"1\".bin", url: "https://x/a?b=c\\d", contentType: "application/octet-stream", size: 42),
                    ArtifactInfo(name: "log\n.txt", url: "/a/log", contentType: "text/plain", size: 0),
                    ArtifactInfo(name: "a.zip", url: "/a.zip", contentType: "application/zip", size: 3, sha256: String(repeating: "ab", count: 32)),
                ]
            )
        ),
    ]

    static let awkwardData: [String] = [
        "a\nb", "\r", "\t", "\u{0}", "\u{1f}", "\"", "\\", "\u{2028}", "\n\n\n", "x\\\"\n", "€😀",
    ]

    private static func lineBytes(_ event: BuildEvent) -> [UInt8] {
        Array(event.line.readableBytesView)
    }

    private static func object(_ event: BuildEvent) throws -> [String: Any] {
        let parsed = try JSONSerialization.jsonObject(with: Data(lineBytes(event)))
        return try #require(parsed as? [String: Any])
    }

    @Test(arguments: allKinds)
    func everyEventIsExactlyOneLineEndingInNewline(event: BuildEvent) {
        let bytes = Self.lineBytes(event)
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(bytes.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        #expect(!bytes.dropLast().contains { $0 < 0x20 })
    }

    @Test(arguments: allKinds)
    func everyEventRoundTripsThroughParse(event: BuildEvent) throws {
        let parsed = try BuildEvent.parse(line: Self.lineBytes(event))
        #expect(parsed == event)
    }

    @Test(arguments: awkwardData)
    func outputDataStaysOnOneLineAndParsesBackWithFoundation(data: String) throws {
        for event in [BuildEvent.stdout(data), .stderr(data)] {
            let bytes = Self.lineBytes(event)
            #expect(bytes.filter { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }.count == 1)
            #expect(bytes.last == UInt8(ascii: "\n"))
            let object = try Self.object(event)
            #expect(object["data"] as? String == data)
        }
    }

    @Test func stdoutLineHasTheDocumentedShape() {
        #expect(String(buffer: BuildEvent.stdout("hi\n").line) == "{\"type\":\"stdout\",\"data\":\"hi\\n\"}\n")
    }

    @Test func exitEventAlwaysCarriesTimedOutAndArtifacts() throws {
        let object = try Self.object(.exit(BuildExit(code: 3)))
        #expect(object["type"] as? String == "exit")
        #expect(object["code"] as? Int == 3)
        #expect(object["timed_out"] as? Bool == false)
        let artifacts = try #require(object["artifacts"] as? [Any])
        #expect(artifacts.isEmpty)
    }

    @Test func exitEventListsArtifactsWithSnakeCaseKeys() throws {
        let artifact = ArtifactInfo(name: "a.bin", url: "/artifacts/a.bin", contentType: "application/x", size: 7)
        let object = try Self.object(.exit(BuildExit(code: 124, timedOut: true, artifacts: [artifact])))
        #expect(object["timed_out"] as? Bool == true)
        let artifacts = try #require(object["artifacts"] as? [[String: Any]])
        #expect(artifacts.count == 1)
        #expect(artifacts.first?["name"] as? String == "a.bin")
        #expect(artifacts.first?["url"] as? String == "/artifacts/a.bin")
        #expect(artifacts.first?["content_type"] as? String == "application/x")
        #expect(artifacts.first?["size"] as? Int == 7)
    }

    @Test func errorWithoutPatternHasNoPatternKey() throws {
        let object = try Self.object(.error(code: "spawn_failed", message: "no", pattern: nil))
        #expect(object["pattern"] == nil)
        #expect(object["code"] as? String == "spawn_failed")
    }

    @Test func unknownEventTypeParsesToNil() throws {
        #expect(try BuildEvent.parse(line: Data(#"{"type":"progress","percent":50}"#.utf8)) == nil)
    }

    @Test func unknownFieldsOfAKnownEventAreIgnored() throws {
        let line = Data(#"{"type":"stdout","data":"x","seq":7,"extra":{"a":[1]}}"#.utf8)
        #expect(try BuildEvent.parse(line: line) == .stdout("x"))
    }

    @Test(arguments: ["not json", "", "[1,2]", "{\"data\":\"no type\"}", "{\"type\":5}"])
    func garbageThrows(line: String) {
        #expect(throws: EventParseError.self) { try BuildEvent.parse(line: Data(line.utf8)) }
    }

    @Test(arguments: [#"{"type":"stdout"}"#, #"{"type":"build","id":"bld_x"}"#, #"{"type":"exit","timed_out":false}"#])
    func aKnownEventMissingARequiredFieldThrows(line: String) {
        #expect(throws: EventParseError.self) { try BuildEvent.parse(line: Data(line.utf8)) }
    }
}
