import CBuildServiceJSONScan
public import NIOCore

/// Which pipe of the build a chunk of output came from.
public enum OutputPipe: Sendable, Equatable {
    case stdout
    case stderr
}

/// The hot path of the event stream in both directions: `stdout`/`stderr` events are written
/// straight from the pipe's bytes, and read straight back into bytes, without going through
/// `String` or a reflective JSON coder. Every other line takes the general path.
public enum OutputLine {
    private static let stdoutPrefix = Array(#"{"type":"stdout","data":"#.utf8)
    private static let stderrPrefix = Array(#"{"type":"stderr","data":"#.utf8)

    /// Appends `{"type":"stdout","data":"…"}\n` for `chunk`, decoded lossily as UTF-8 by `decoder`
    /// (which holds back a character split at the end of the chunk). Writes nothing when the
    /// chunk only held the start of a character.
    public static func write(
        _ pipe: OutputPipe,
        chunk: ByteBuffer,
        decoder: inout UTF8StreamDecoder,
        to buffer: inout ByteBuffer
    ) {
        let mark = buffer.writerIndex
        buffer.writeBytes(pipe == .stdout ? stdoutPrefix : stderrPrefix)
        let wroteText = decoder.writeJSONString(chunk, to: &buffer)
        guard wroteText else {
            buffer.moveWriterIndex(to: mark)
            return
        }
        buffer.writeStaticString("}\n")
    }

    /// Appends the event for what `decoder` still holds at end of stream, if anything.
    public static func writeRemainder(_ pipe: OutputPipe, decoder: inout UTF8StreamDecoder, to buffer: inout ByteBuffer) {
        let rest = decoder.finish()
        guard !rest.isEmpty else { return }
        (pipe == .stdout ? BuildEvent.stdout(rest) : BuildEvent.stderr(rest)).writeLine(to: &buffer)
    }

    /// The pipe and the raw bytes of a `stdout`/`stderr` line in exactly the form `write`
    /// produces; nil for any other line (parse those with `BuildEvent.parse`).
    public static func parse(_ line: ByteBufferView) -> (OutputPipe, [UInt8])? {
        let pipe: OutputPipe
        if line.starts(with: stdoutPrefix) {
            pipe = .stdout
        } else if line.starts(with: stderrPrefix) {
            pipe = .stderr
        } else {
            return nil
        }
        // A `seq` field, if any, is the last one: the data string ends right before its comma.
        let seqStart = EventSequence.split(line)?.bodyEnd
        let decoded = line.withUnsafeBytes { bytes -> [UInt8]? in
            // prefix, then "…"} or "…","seq":N}: the quotes are outside the body handed to unescape.
            let start = stdoutPrefix.count + 1
            let end = seqStart.map { $0 - 1 } ?? bytes.count - 2
            guard end >= start, bytes[start - 1] == UInt8(ascii: "\""), bytes[end] == UInt8(ascii: "\""),
                seqStart != nil || bytes[end + 1] == UInt8(ascii: "}")
            else {
                return nil
            }
            return unescape(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
        }
        return decoded.map { (pipe, $0) }
    }

    /// Decodes the inside of a JSON string; nil if it is not one (an unescaped quote, a raw
    /// control character, a bad escape), so that the caller falls back to the general parser.
    /// Plain bytes are skipped a word at a time and copied in runs: this is the client's hot path.
    static func unescape(_ body: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let source = body.baseAddress, body.count > 0 else { return [] }
        var valid = true
        // Unescaping never makes the text longer. No nested functions: nothing gets boxed.
        let output = [UInt8](unsafeUninitializedCapacity: body.count) { output, written in
            let target = output.baseAddress!
            let bytes = source.assumingMemoryBound(to: UInt8.self)
            var length = 0
            var index = 0
            let count = body.count
            while index < count {
                // Plain runs and short escapes in C; \u escapes and errors here.
                var produced = 0
                index += bs_json_unescape_simple(bytes + index, count - index, target + length, &produced)
                length += produced
                guard index < count else { break }
                guard body[index] == UInt8(ascii: "\\"), index + 1 < count, body[index + 1] == UInt8(ascii: "u") else {
                    valid = false
                    break
                }
                index += 2
                // \uXXXX is 6 bytes and at most 3 of UTF-8; a pair is 12 bytes and 4 of UTF-8.
                guard let scalar = unicodeEscape(body, at: &index) else {
                    valid = false
                    break
                }
                for encoded in UTF8.encode(scalar)! {
                    target[length] = encoded
                    length += 1
                }
            }
            written = length
        }
        return valid ? output : nil
    }

    /// The scalar of `XXXX` (after `\u`) at `index`, combining a surrogate pair; nil if invalid.
    private static func unicodeEscape(_ body: UnsafeRawBufferPointer, at index: inout Int) -> Unicode.Scalar? {
        guard var scalar = hex4(body, at: &index) else { return nil }
        if (0xD800...0xDBFF).contains(scalar) {
            // A high surrogate must be followed by an escaped low one.
            guard index + 1 < body.count, body[index] == UInt8(ascii: "\\"), body[index + 1] == UInt8(ascii: "u") else {
                return nil
            }
            index += 2
            guard let low = hex4(body, at: &index), (0xDC00...0xDFFF).contains(low) else { return nil }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalar) {
            return nil
        }
        return Unicode.Scalar(scalar)
    }

    private static func hex4(_ body: UnsafeRawBufferPointer, at index: inout Int) -> UInt32? {
        guard index + 4 <= body.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = body[index]
            index += 1
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
}
