import BuildServiceCore
import Foundation
import Logging
import Testing

/// The daemon's log lines: one record per line whatever a request put in it, and a log file
/// that rotates instead of growing without end.
struct LoggingTests {
    private func logDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bs-log-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func hostileValuesCannotForgeALogLine() throws {
        let directory = try logDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try RotatingLogFile(directory: directory, maxBytes: 1 << 20, maxFiles: 2)
        var logger = Logger(label: "test") { label in
            PlainTextLogHandler(label: label, level: .info, console: false, file: file)
        }
        logger[metadataKey: "build.project"] = "demo"
        logger.info(
            "build started",
            metadata: [
                "build.args": .array(["all", "x\n2026-01-01T00:00:00.000Z info build finished build.exit_code=0", "a=b \"q\""]),
                "build.cwd": "/srv/src/with space",
            ]
        )
        logger.debug("not at this level")
        let text = try String(contentsOfFile: directory + "/build-service.log", encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2)  // one record and the final newline
        let line = String(lines[0])
        #expect(line.contains(" info build started "))
        #expect(line.contains(#"build.cwd="/srv/src/with space""#))
        #expect(line.contains(#"\n2026-01-01"#))
        #expect(line.contains(#""a=b \"q\"""#))
        // Keys are sorted, so lines are stable to grep and diff.
        let keys = line.split(separator: " ").compactMap { $0.contains("=") ? $0.split(separator: "=").first : nil }
        #expect(keys.first == "build.args")
        #expect(line.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "#, options: .regularExpression) != nil)
    }

    @Test func logFileRotatesAtMaxBytesKeepingMaxFiles() throws {
        let directory = try logDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try RotatingLogFile(directory: directory, maxBytes: 200, maxFiles: 3)
        for index in 0..<20 {
            file.write(Array(("line \(index) " + String(repeating: "x", count: 40) + "\n").utf8))
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(names == ["build-service.log", "build-service.log.1", "build-service.log.2"])
        for name in names {
            let size = try FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.size] as? Int ?? 0
            #expect(size <= 200, "\(name) has \(size) bytes")
        }
        let newest = try String(contentsOfFile: directory + "/build-service.log", encoding: .utf8)
        #expect(newest.contains("line 19 "))
        let older = try String(contentsOfFile: directory + "/build-service.log.1", encoding: .utf8)
        #expect(!older.contains("line 19 "))
    }
}
