import CBuildServiceInflate
import Foundation

/// One entry of a stored zip, read in order a piece at a time (inflated when it is deflated),
/// without unpacking anything to disk: `next` returns the next plain bytes, at most `limit` of
/// them. Each call is a short blocking step (one `pread`, one inflate) meant for a thread pool;
/// between calls nothing is held but the descriptor and the inflater's window, so a slow client
/// holds no thread. Used by one task at a time.
public final class ZipEntryReader: @unchecked Sendable {
    public enum ReadError: Error, CustomStringConvertible {
        case damaged(String)

        public var description: String {
            switch self {
            case .damaged(let why): "the zip entry cannot be read (\(why))"
            }
        }
    }

    private let descriptor: Int32
    private let entry: ZipDirectory.Entry
    private var inflater: OpaquePointer?
    /// Compressed bytes read so far.
    private var consumed = 0
    /// Plain bytes handed out so far.
    public private(set) var produced = 0
    /// Compressed input read but not yet taken by the inflater.
    private var pending: [UInt8] = []
    private var pendingStart = 0

    static let inputChunk = 64 * 1024

    /// - Parameter descriptor: the zip, open for reading; duplicated, so the caller may close its own.
    public init(descriptor: Int32, entry: ZipDirectory.Entry) throws(ReadError) {
        let own = dup(descriptor)
        guard own >= 0 else { throw .damaged("no descriptor: \(String(cString: strerror(errno)))") }
        self.descriptor = own
        self.entry = entry
        if entry.deflated {
            guard let inflater = bs_inflater_new() else {
                close(own)
                throw .damaged("out of memory")
            }
            self.inflater = inflater
        }
    }

    deinit {
        if let inflater { bs_inflater_free(inflater) }
        close(descriptor)
    }

    /// Plain bytes the entry has left.
    public var remaining: Int { entry.size - produced }

    /// The next at most `limit` bytes of the entry; empty at its end.
    public func next(limit: Int) throws(ReadError) -> [UInt8] {
        let wanted = min(limit, remaining)
        guard wanted > 0 else { return [] }
        if !entry.deflated {
            var bytes = [UInt8](repeating: 0, count: wanted)
            let read = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, wanted, off_t(entry.dataOffset + produced)) }
            guard read == wanted else { throw .damaged("the file is shorter than its directory says") }
            produced += wanted
            return bytes
        }
        var output = [UInt8](repeating: 0, count: wanted)
        var filled = 0
        while filled < wanted {
            if pendingStart == pending.count {
                let count = min(Self.inputChunk, entry.compressedSize - consumed)
                guard count > 0 else { throw .damaged("its compressed data ends early") }
                pending = [UInt8](repeating: 0, count: count)
                let read = pending.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(entry.dataOffset + consumed)) }
                guard read == count else { throw .damaged("the file is shorter than its directory says") }
                consumed += count
                pendingStart = 0
            }
            var used = 0
            var made = 0
            let result = pending.withUnsafeBufferPointer { input in
                output.withUnsafeMutableBufferPointer { out in
                    bs_inflater_step(
                        inflater,
                        input.baseAddress! + pendingStart,
                        input.count - pendingStart,
                        &used,
                        out.baseAddress! + filled,
                        wanted - filled,
                        &made
                    )
                }
            }
            guard result >= 0 else { throw .damaged("its compressed data is not valid deflate") }
            pendingStart += used
            filled += made
            if result == 1, filled < wanted { throw .damaged("it is shorter than its directory says") }
            if used == 0, made == 0, pendingStart < pending.count { throw .damaged("the inflater made no progress") }
        }
        produced += filled
        return output
    }

    /// Skips `count` bytes (a Range that starts inside the entry): inflated and dropped.
    public func skip(_ count: Int) throws(ReadError) {
        var left = min(count, remaining)
        if !entry.deflated {
            produced += left
            return
        }
        while left > 0 {
            left -= try next(limit: min(left, 256 * 1024)).count
        }
    }
}
