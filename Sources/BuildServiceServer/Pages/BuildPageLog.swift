import BuildServiceCore
import BuildServiceProtocol
import NIOCore

/// The output a build page shows when it is served: the end of the build's held events as HTML,
/// stdout and stderr in spans of their own, warnings and errors as notes. A running build's
/// page goes on from `lastSeq` with its script. Works on UTF-8 bytes throughout: a page of a
/// large build renders a megabyte.
struct BuildPageLog {
    /// Escaped markup for the inside of the page's `<pre>`.
    private(set) var html = ""
    /// The newest event read: the script follows from here.
    private(set) var lastSeq = 0
    /// Output before what is shown was left out (held, but past `maxBytes`).
    private(set) var leftOutEarlier = false

    /// At most this much output goes into a page (the end of it, where a failure shows).
    static let maxBytes = 1 << 20

    /// Events read at first, counted back from the newest; four times as many each time that
    /// was not enough. A build's output events hold up to a pipe read each, so a page of a
    /// large build reads a few dozen events, not the megabytes the daemon holds.
    static let firstWindow = 64

    /// Reads what `record` holds now (without attaching: the build does not wait for a page).
    init(_ record: BuildRecord) {
        let newest = record.snapshot.lastSeq
        var window = Self.firstWindow
        while true {
            let after = max(0, newest - window)
            let read = Self.read(record, after: after)
            if read.bytes >= Self.maxBytes || read.reachedStart || after == 0 {
                render(read.runs, bytes: read.bytes, cutFront: after > 0 && !read.reachedStart)
                lastSeq = read.through
                return
            }
            window *= 4
        }
    }

    /// Output of one kind: `o` stdout, `e` stderr, `n` a note.
    private struct Run {
        let kind: UInt8
        var text: [UInt8]
    }

    /// The events after `start`, as runs of one kind; whether that reached the first event held.
    private static func read(_ record: BuildRecord, after start: Int) -> (runs: [Run], bytes: Int, reachedStart: Bool, through: Int) {
        var runs: [Run] = []
        var bytes = 0
        var cursor = start
        var reachedStart = start == 0
        while true {
            let batch = record.read(after: cursor)
            if batch.missing > 0 {
                reachedStart = true
                runs.append(
                    Run(
                        kind: UInt8(ascii: "n"),
                        text: Array("[\(ErrorCode.eventsDropped.rawValue)] \(batch.missing) earlier events are no longer held\n".utf8)
                    )
                )
            }
            for line in batch.lines {
                guard let (kind, text) = entry(line) else { continue }
                bytes += text.count
                if runs.last?.kind == kind {
                    runs[runs.count - 1].text += text
                } else {
                    runs.append(Run(kind: kind, text: text))
                }
            }
            cursor = batch.lastSeq
            if batch.complete || (batch.lines.isEmpty && batch.missing == 0) { return (runs, bytes, reachedStart, cursor) }
        }
    }

    /// What one logged event shows: output by its pipe (read straight from the line, as the
    /// client does), warnings and errors as notes, nothing for the rest.
    private static func entry(_ line: ByteBuffer) -> (UInt8, [UInt8])? {
        if let (pipe, bytes) = OutputLine.parse(line.readableBytesView) {
            return (UInt8(ascii: pipe == .stdout ? "o" : "e"), bytes.withUnsafeBufferPointer { TerminalText.stripped(bytes: $0) })
        }
        switch try? BuildEvent.parse(line: Array(line.readableBytesView)) {
        case .stdout(let data): return (UInt8(ascii: "o"), Array(TerminalText.stripped(data).utf8))
        case .stderr(let data): return (UInt8(ascii: "e"), Array(TerminalText.stripped(data).utf8))
        case .warning(let code, let message), .error(let code, let message, _): return (UInt8(ascii: "n"), Array("[\(code)] \(message)\n".utf8))
        default: return nil
        }
    }

    /// The end of the output, at most `maxBytes` of it (from a character's start), as markup.
    private mutating func render(_ runs: [Run], bytes: Int, cutFront: Bool) {
        var runs = runs[...]
        var bytes = bytes
        leftOutEarlier = cutFront
        while bytes > Self.maxBytes, let first = runs.first {
            leftOutEarlier = true
            let excess = bytes - Self.maxBytes
            if first.text.count <= excess {
                bytes -= first.text.count
                runs = runs.dropFirst()
            } else {
                // Not inside a character: continuation bytes go with the cut.
                var cut = excess
                while cut < first.text.count, first.text[cut] & 0xC0 == 0x80 { cut += 1 }
                runs[runs.startIndex].text = Array(first.text[cut...])
                bytes -= cut
            }
        }
        var markup: [UInt8] = []
        markup.reserveCapacity(bytes + bytes / 8 + runs.count * 24)
        for run in runs {
            markup += Array(#"<span class=""#.utf8) + [run.kind] + Array(#"">"#.utf8)
            markup += run.text.withUnsafeBufferPointer { HTMLText.escaped(bytes: $0) }
            markup += Array("</span>".utf8)
        }
        html = String(decoding: markup, as: UTF8.self)
    }
}
