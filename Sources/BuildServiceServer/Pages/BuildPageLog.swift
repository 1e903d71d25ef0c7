import BuildServiceCore
import BuildServiceProtocol

/// The output a build page shows when it is served: the build's held events as HTML, stdout and
/// stderr in spans of their own, warnings and errors as notes. A running build's page goes on
/// from `lastSeq` with its script.
struct BuildPageLog {
    /// Escaped markup for the inside of the page's `<pre>`.
    private(set) var html = ""
    /// The newest event read: the script follows from here.
    private(set) var lastSeq = 0
    /// Characters of output left off the front to keep the page within `maxCharacters`.
    private(set) var omittedCharacters = 0

    /// At most this much output goes into a page (the end of it, where a failure shows).
    static let maxCharacters = 1_000_000

    /// Reads what `record` holds now (without attaching: the build does not wait for a page).
    init(_ record: BuildRecord) {
        var runs: [(kind: Character, text: String)] = []
        var characters = 0
        var cursor = 0
        while true {
            let batch = record.read(after: cursor)
            if batch.missing > 0 {
                runs.append(("n", "[\(ErrorCode.eventsDropped.rawValue)] \(batch.missing) earlier events are no longer held\n"))
            }
            for line in batch.lines {
                guard let event = try? BuildEvent.parse(line: Array(line.readableBytesView)) else { continue }
                let (kind, text): (Character, String)
                switch event {
                case .stdout(let data): (kind, text) = ("o", TerminalText.stripped(data))
                case .stderr(let data): (kind, text) = ("e", TerminalText.stripped(data))
                case .warning(let code, let message), .error(let code, let message, _): (kind, text) = ("n", "[\(code)] \(message)\n")
                default: continue
                }
                characters += text.count
                if let last = runs.last, last.kind == kind {
                    runs[runs.count - 1].text += text
                } else {
                    runs.append((kind, text))
                }
            }
            cursor = batch.lastSeq
            if batch.complete || (batch.lines.isEmpty && batch.missing == 0) { break }
        }
        lastSeq = cursor
        // The end of the output is kept: it is where a build says why it failed.
        while characters > Self.maxCharacters, !runs.isEmpty {
            let excess = characters - Self.maxCharacters
            if runs[0].text.count <= excess {
                characters -= runs[0].text.count
                omittedCharacters += runs[0].text.count
                runs.removeFirst()
            } else {
                runs[0].text = String(runs[0].text.dropFirst(excess))
                characters -= excess
                omittedCharacters += excess
            }
        }
        for run in runs {
            html += "<span class=\"\(run.kind)\">\(HTMLText.escaped(run.text))</span>"
        }
    }
}
