import Foundation

/// The list of entries of a stored zip (a directory artifact), read from its central directory
/// with `pread` on an open descriptor: what the index page lists and where each entry's bytes
/// lie. Every offset and length is checked against the file before it is used, so a damaged
/// or hand-made zip is refused rather than read out of bounds. Classic zips only: a zip64
/// archive (4 GiB or 65,535 entries and more) is refused with a message saying so.
public struct ZipDirectory: Sendable {
    public struct Entry: Sendable, Equatable {
        /// The path inside the zip as stored (a directory ends with `/`).
        public let path: String
        public let size: Int
        let compressedSize: Int
        /// Where the entry's (compressed) bytes start: past its local header.
        let dataOffset: Int
        let deflated: Bool
        public let crc32: UInt32
        /// A regular file (not a directory or a symlink): what can be served.
        public let isFile: Bool
    }

    public enum ReadError: Error, Equatable, CustomStringConvertible {
        case notAZip(String)
        case zip64
        case unsupported(String)

        public var description: String {
            switch self {
            case .notAZip(let why): "not a zip archive we can read (\(why))"
            case .zip64: "a zip64 archive (4 GiB or more): download it whole"
            case .unsupported(let what): "an entry uses \(what), which is not supported: download the zip whole"
            }
        }
    }

    public let entries: [Entry]

    /// Reads the central directory of the file open at `descriptor` (of `fileSize` bytes).
    public init(descriptor: Int32, fileSize: Int) throws(ReadError) {
        // The end record is in the last 22 bytes plus at most a 64 KiB comment.
        let tailLength = min(fileSize, 22 + 0xFFFF)
        let tail = try Self.read(descriptor, at: fileSize - tailLength, count: tailLength)
        guard let end = Self.lastIndex(of: 0x0605_4B50, in: tail) else { throw .notAZip("no end of central directory record") }
        guard end + 22 <= tail.count else { throw .notAZip("a truncated end record") }
        let count = Int(Self.uint16(tail, end + 10))
        let directorySize = Int(Self.uint32(tail, end + 12))
        let directoryOffset = Int(Self.uint32(tail, end + 16))
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF { throw .zip64 }
        guard directoryOffset + directorySize <= fileSize - tailLength + end else { throw .notAZip("the central directory lies outside the file") }
        let directory = try Self.read(descriptor, at: directoryOffset, count: directorySize)
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        var position = 0
        for _ in 0..<count {
            guard position + 46 <= directory.count, Self.uint32(directory, position) == 0x0201_4B50 else {
                throw .notAZip("a damaged central directory entry")
            }
            let flags = Self.uint16(directory, position + 8)
            let method = Self.uint16(directory, position + 10)
            let crc = Self.uint32(directory, position + 16)
            let compressed = Int(Self.uint32(directory, position + 20))
            let size = Int(Self.uint32(directory, position + 24))
            let nameLength = Int(Self.uint16(directory, position + 28))
            let extraLength = Int(Self.uint16(directory, position + 30))
            let commentLength = Int(Self.uint16(directory, position + 32))
            let externalAttributes = Self.uint32(directory, position + 38)
            let localHeader = Int(Self.uint32(directory, position + 42))
            let next = position + 46 + nameLength + extraLength + commentLength
            guard next <= directory.count else { throw .notAZip("a central directory entry runs past its end") }
            if compressed == 0xFFFF_FFFF || size == 0xFFFF_FFFF || localHeader == 0xFFFF_FFFF { throw .zip64 }
            let path = String(decoding: directory[(position + 46)..<(position + 46 + nameLength)], as: UTF8.self)
            position = next
            if flags & 0x1 != 0 { throw .unsupported("encryption") }
            guard method == 0 || method == 8 else { throw .unsupported("compression method \(method)") }
            // The local header's own name and extra lengths decide where the data starts.
            let local = try Self.read(descriptor, at: localHeader, count: 30, within: fileSize)
            guard Self.uint32(local, 0) == 0x0403_4B50 else { throw .notAZip("an entry's local header is missing") }
            let dataOffset = localHeader + 30 + Int(Self.uint16(local, 26)) + Int(Self.uint16(local, 28))
            guard dataOffset + compressed <= directoryOffset else { throw .notAZip("an entry's data runs into the central directory") }
            let fileType = (externalAttributes >> 16) & 0o170000
            let isFile = !path.hasSuffix("/") && (fileType == 0 || fileType == 0o100000)
            entries.append(
                Entry(path: path, size: size, compressedSize: compressed, dataOffset: dataOffset, deflated: method == 8, crc32: crc, isFile: isFile)
            )
        }
        self.entries = entries
    }

    /// The regular file stored at exactly `path`.
    public func file(_ path: String) -> Entry? {
        entries.first { $0.isFile && $0.path == path }
    }

    private static func read(_ descriptor: Int32, at offset: Int, count: Int, within fileSize: Int? = nil) throws(ReadError) -> [UInt8] {
        if let fileSize, offset < 0 || offset + count > fileSize { throw .notAZip("an offset outside the file") }
        guard offset >= 0, count >= 0 else { throw .notAZip("an offset outside the file") }
        var bytes = [UInt8](repeating: 0, count: count)
        let read = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(offset)) }
        guard read == count else { throw .notAZip("it is shorter than its directory says") }
        return bytes
    }

    private static func lastIndex(of signature: UInt32, in bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in stride(from: bytes.count - 4, through: 0, by: -1) where uint32(bytes, index) == signature {
            return index
        }
        return nil
    }

    private static func uint16(_ bytes: [UInt8], _ at: Int) -> UInt16 {
        UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
    }

    private static func uint32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }
}
