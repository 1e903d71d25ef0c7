import Foundation

/// Debian's Chromium, headless, driven over the DevTools protocol by `Tests/Browser/browse.py`:
/// the test hands it steps (open, wait, eval, click, download, screenshot) and gets one result
/// a step. A step that fails ends the run and is thrown, with what the browser said.
enum HeadlessBrowser {
    static let driver = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Browser/browse.py").path

    struct StepFailed: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `steps` in one browser; returns each step's result (JSON values as Foundation gives them).
    static func run(_ steps: [[String: Any]], in directory: String) async throws -> [Any] {
        let input = try JSONSerialization.data(withJSONObject: steps)
        let result = try await TestProcess.run("/usr/bin/python3", [driver], stdin: input, outputDirectory: directory)
        guard result.status == 0,
            let outcomes = try? JSONSerialization.jsonObject(with: Data(result.stdoutText.utf8), options: [.fragmentsAllowed]) as? [[String: Any]]
        else {
            throw StepFailed(description: "browse.py exited \(result.status): \(result.stderrText.suffix(2000))")
        }
        var values: [Any] = []
        for (index, outcome) in outcomes.enumerated() {
            if let error = outcome["error"] {
                throw StepFailed(description: "step \(index + 1) of \(steps.count) (\(steps[index])): \(error)")
            }
            values.append(outcome["ok"] ?? NSNull())
        }
        guard values.count == steps.count else { throw StepFailed(description: "\(values.count) results for \(steps.count) steps") }
        return values
    }
}
