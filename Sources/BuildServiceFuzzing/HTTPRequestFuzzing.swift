import BuildServiceServer
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// Bytes from a client into the daemon's HTTP/1.1 request parser, with two oracles:
/// - read whole and read in pieces (the first byte of the input picks the piece size), the same
///   parts and the same refusal;
/// - NIO's decoder (llhttp, which the daemon used before and whose strictness is the floor):
///   a first request the parser accepts must be accepted by NIO's decoder too, with the same
///   method, target, version, header fields and body. Where the two disagree on where a request
///   ends, a client could smuggle one past the other; the parser may refuse more, never less.
enum HTTPRequestFuzzing {
    static func run(_ input: [UInt8]) -> String? {
        guard let first = input.first else { return nil }
        let bytes = Array(input.dropFirst())
        let pieceSize = Int(first % 32) + 1
        let whole = parse([bytes[...]])
        let pieces = parse(
            stride(from: 0, to: bytes.count, by: pieceSize).map { bytes[$0..<min($0 + pieceSize, bytes.count)] }
        )
        if whole != pieces {
            return "one read gives \(whole), reads of \(pieceSize) bytes give \(pieces)"
        }
        guard let ours = whole.firstRequest else { return nil }
        // A method llhttp does not know: the parser leaves those to the router (405).
        if case .head(let head) = ours.first, case .RAW = head.method { return nil }
        guard let theirs = nioFirstRequest(bytes) else {
            return "the parser accepts a request NIO's decoder refuses: \(ours)"
        }
        if Outcome.normalized(ours) != Outcome.normalized(theirs) {
            return "the parser reads \(ours), NIO's decoder \(theirs)"
        }
        return nil
    }

    struct Outcome: Equatable {
        var parts: [HTTPRequestParser.Part] = []
        var refusal: String?

        /// The parts up to the end of the first request, if it ended.
        var firstRequest: [HTTPRequestParser.Part]? {
            parts.firstIndex(of: .end).map { Array(parts[...$0]) }
        }

        /// Bodies joined (they are split where the reads were), header values without the
        /// white space around them.
        static func normalized(_ parts: [HTTPRequestParser.Part]) -> [HTTPRequestParser.Part] {
            var result: [HTTPRequestParser.Part] = []
            for part in parts {
                switch part {
                case .head(var head):
                    head.headers = HTTPHeaders(head.headers.map { ($0.name, String($0.value.trimmingHTTPWhitespace)) })
                    result.append(.head(head))
                case .body(var body):
                    guard body.readableBytes > 0 else { continue }
                    if case .body(var previous) = result.last {
                        previous.writeBuffer(&body)
                        result[result.count - 1] = .body(previous)
                    } else {
                        result.append(.body(body))
                    }
                case .end:
                    result.append(.end)
                }
            }
            return result
        }

        static func == (lhs: Outcome, rhs: Outcome) -> Bool {
            normalized(lhs.parts) == normalized(rhs.parts) && lhs.refusal == rhs.refusal
        }
    }

    private static func parse(_ reads: [ArraySlice<UInt8>]) -> Outcome {
        var parser = HTTPRequestParser()
        var buffer = ByteBuffer()
        var outcome = Outcome()
        for read in reads {
            buffer.writeBytes(read)
            do {
                while let part = try parser.next(&buffer) { outcome.parts.append(part) }
            } catch {
                outcome.refusal = error.message
                return outcome
            }
        }
        return outcome
    }

    /// NIO's decoder on an in-memory channel: the parts of the first request, or nil if it
    /// refused the input before that request's end (or never reached it).
    private static func nioFirstRequest(_ bytes: [UInt8]) -> [HTTPRequestParser.Part]? {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder()))
        defer { _ = try? channel.finish() }
        var parts: [HTTPRequestParser.Part] = []
        do {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
        } catch {
            // Parts read before the error still count only if the first request had ended.
        }
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
            switch part {
            case .head(let head): parts.append(.head(head))
            case .body(let body): parts.append(.body(body))
            case .end:
                parts.append(.end)
                return parts
            }
        }
        return nil
    }
}
