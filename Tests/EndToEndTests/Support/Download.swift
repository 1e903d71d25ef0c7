import Foundation

/// A GET (or HEAD) with curl, keeping the body as bytes.
struct Download {
    var status: Int
    var headers: String
    var body: Data

    /// The value of a response header (case-insensitive name), if present.
    func header(_ name: String) -> String? {
        for line in headers.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    static func fetch(
        _ url: String,
        headers: [String] = [],
        method: String = "GET",
        extra: [String] = [],
        in directory: String
    ) async throws -> Download {
        let id = UUID().uuidString
        let headerFile = directory + "/dl-\(id).headers"
        let bodyFile = directory + "/dl-\(id).body"
        var arguments = ["-sS", "--path-as-is", "-D", headerFile, "-o", bodyFile] + extra
        arguments += method == "HEAD" ? ["-I"] : ["-X", method]
        for header in headers { arguments += ["-H", header] }
        arguments.append(url)
        let result = try await TestProcess.run("/usr/bin/curl", arguments, outputDirectory: directory)
        guard result.status == 0 else { throw DaemonError("curl \(url) failed: \(result.stderrText)") }
        let head = (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? ""
        let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return Download(status: status, headers: head, body: FileManager.default.contents(atPath: bodyFile) ?? Data())
    }
}

/// Whether two downloads hold the same bytes. A Bool, not `==` inside `#expect`: on a mismatch
/// swift-testing would diff the two collections, which for megabytes takes practically forever.
func sameBytes(_ received: Data?, _ expected: Data) -> Bool {
    received == expected
}
