import BuildServiceProtocol
import NIOConcurrencyHelpers
import NIOCore

/// Turns a process's output chunks into `stdout`/`stderr` event lines: lossy UTF-8, one
/// decoder per pipe, so a character split between two reads is sent whole.
final class OutputEvents: Sendable {
    private let decoders = NIOLockedValueBox((stdout: UTF8StreamDecoder(), stderr: UTF8StreamDecoder()))

    /// The event line for one chunk (empty when the chunk only began a character).
    func line(_ pipe: OutputPipe, _ chunk: ByteBuffer) -> ByteBuffer {
        var line = ByteBuffer()
        // The event's framing plus the room `JSONText.writeLossyUTF8String` asks for, so the
        // line is allocated once (a smaller guess was grown, and copied, for many chunk sizes).
        line.reserveCapacity(chunk.readableBytes + chunk.readableBytes / 8 + 64)
        decoders.withLockedValue { decoders in
            switch pipe {
            case .stdout: OutputLine.write(.stdout, chunk: chunk, decoder: &decoders.stdout, to: &line)
            case .stderr: OutputLine.write(.stderr, chunk: chunk, decoder: &decoders.stderr, to: &line)
            }
        }
        return line
    }

    /// What is left when the output ends: an event for an incomplete character at the end of
    /// either pipe.
    func remainder() -> [ByteBuffer] {
        decoders.withLockedValue { decoders in
            var lines: [ByteBuffer] = []
            for pipe in [OutputPipe.stdout, .stderr] {
                var line = ByteBuffer()
                switch pipe {
                case .stdout: OutputLine.writeRemainder(.stdout, decoder: &decoders.stdout, to: &line)
                case .stderr: OutputLine.writeRemainder(.stderr, decoder: &decoders.stderr, to: &line)
                }
                if line.readableBytes > 0 { lines.append(line) }
            }
            return lines
        }
    }
}
