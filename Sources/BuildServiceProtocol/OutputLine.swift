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
        guard line.count >= stdoutPrefix.count + 3, line.last == UInt8(ascii: "}") else { return nil }
        let body = line.dropFirst(stdoutPrefix.count).dropLast(2)
        guard line[line.index(line.endIndex, offsetBy: -2)] == UInt8(ascii: "\"") else { return nil }
        return unescape(body).map { (pipe, $0) }
    }

    /// Decodes the inside of a JSON string; nil if it is not one (an unescaped quote, a bad
    /// escape), so that the caller falls back to the general parser.
    static func unescape(_ body: ByteBufferView.SubSequence) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(body.count)
        var index = body.startIndex
        while index < body.endIndex {
            let byte = body[index]
            index += 1
            if byte == UInt8(ascii: "\"") || byte < 0x20 { return nil }
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                continue
            }
            guard index < body.endIndex else { return nil }
            let escape = body[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(escape)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "u"):
                guard var scalar = hex4(body, at: &index) else { return nil }
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low one.
                    guard index + 1 < body.endIndex, body[index] == UInt8(ascii: "\\"), body[index + 1] == UInt8(ascii: "u") else {
                        return nil
                    }
                    index += 2
                    guard let low = hex4(body, at: &index), (0xDC00...0xDFFF).contains(low) else { return nil }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    return nil
                }
                guard let unicode = Unicode.Scalar(scalar) else { return nil }
                output.append(contentsOf: UTF8.encode(unicode)!)
            default:
                return nil
            }
        }
        return output
    }

    private static func hex4(_ body: ByteBufferView.SubSequence, at index: inout Int) -> UInt32? {
        guard index + 4 <= body.endIndex else { return nil }
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
