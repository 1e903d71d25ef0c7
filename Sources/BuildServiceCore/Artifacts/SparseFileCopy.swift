import BuildServiceTLS
import Foundation

/// Copies a regular file of `length` bytes, holes kept as holes: only the data the file system
/// says is there (`SEEK_DATA`/`SEEK_HOLE`) is read and written; a hole is skipped in the copy
/// and hashed as the zeros it reads as. A 300 MB sparse build output takes no blocks in the
/// store, as it took none in the tree. Where the file system cannot tell holes, all of the
/// file is data. Without an output it only hashes (a stored zip, an adopted set).
struct SparseFileCopy {
    enum Failure: Error {
        case read(Int32)
        case write(Int32)
        /// The file's length is not `length` any more: something wrote to it meanwhile.
        case changed
    }

    private static let zeros = [UInt8](repeating: 0, count: 1 << 16)
    /// Linux's whence values (Glibc exports them only under _GNU_SOURCE).
    private static let seekData: Int32 = 3
    private static let seekHole: Int32 = 4

    /// - Throws: `.changed` when the file did not keep its length to the end: a file that shrank
    ///   would otherwise be stored padded with zeros, one that grew cut short.
    static func copy(from input: Int32, to output: Int32?, length: Int, hasher: SHA256Hasher?) throws(Failure) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while offset < length {
            let dataStart = min(seek(input, offset, seekData, otherwise: offset), length)
            if dataStart > offset {
                if let hasher { hashZeros(dataStart - offset, into: hasher) }
                offset = dataStart
                continue
            }
            let dataEnd = min(seek(input, offset, seekHole, otherwise: length), length)
            while offset < dataEnd {
                let count = buffer.withUnsafeMutableBytes { pread(input, $0.baseAddress, min($0.count, dataEnd - offset), off_t(offset)) }
                if count < 0, errno == EINTR { continue }
                guard count >= 0 else { throw .read(errno) }
                guard count > 0 else { throw .changed }
                buffer.withUnsafeBytes { hasher?.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                var written = 0
                while let output, written < count {
                    let result = buffer.withUnsafeBytes { pwrite(output, $0.baseAddress! + written, count - written, off_t(offset + written)) }
                    if result < 0, errno == EINTR { continue }
                    guard result > 0 else { throw .write(result < 0 ? errno : ENOSPC) }
                    written += result
                }
                offset += count
            }
        }
        var info = stat()
        guard fstat(input, &info) == 0, Int(info.st_size) == length else { throw .changed }
        // A trailing hole is made by the length alone.
        if let output, ftruncate(output, off_t(length)) != 0 { throw .write(errno) }
    }

    /// `lseek` to the next data or hole at or after `offset`; past the last data (ENXIO) is
    /// the end; a file system that cannot tell gives `otherwise`.
    private static func seek(_ descriptor: Int32, _ offset: Int, _ whence: Int32, otherwise: Int) -> Int {
        let result = lseek(descriptor, off_t(offset), whence)
        if result >= 0 { return Int(result) }
        return errno == ENXIO ? Int.max : otherwise
    }

    private static func hashZeros(_ count: Int, into hasher: SHA256Hasher) {
        var left = count
        zeros.withUnsafeBytes { zeros in
            while left > 0 {
                let chunk = min(left, zeros.count)
                hasher.update(UnsafeRawBufferPointer(rebasing: zeros[0..<chunk]))
                left -= chunk
            }
        }
    }
}
