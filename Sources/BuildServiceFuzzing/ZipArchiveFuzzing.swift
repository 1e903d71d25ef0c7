import BuildServiceCore
import Foundation

/// A stored zip as bytes on disk (a directory artifact, or an adopted set's file someone
/// changed): its directory is read without a crash or an out-of-bounds read, and every file
/// entry either reads to exactly its listed size or is refused with an error.
enum ZipArchiveFuzzing {
    /// One scratch file per process, rewritten for each input.
    nonisolated(unsafe) private static var descriptor: Int32 = -1

    static func run(_ input: [UInt8]) -> String? {
        if descriptor < 0 {
            var template = Array("/tmp/bs-fuzz-zip-XXXXXX".utf8CString)
            descriptor = mkstemp(&template)
            unlink(template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        guard descriptor >= 0, ftruncate(descriptor, 0) == 0,
            input.withUnsafeBytes({ pwrite(descriptor, $0.baseAddress, input.count, 0) }) == input.count
        else { return nil }
        guard let directory = try? ZipDirectory(descriptor: descriptor, fileSize: input.count) else { return nil }
        for entry in directory.entries.prefix(16) where entry.isFile && entry.size <= 1 << 20 {
            guard let reader = try? ZipEntryReader(descriptor: descriptor, entry: entry) else { continue }
            var total = 0
            while let bytes = try? reader.next(limit: 4096), !bytes.isEmpty {
                total += bytes.count
                if total > entry.size { return "entry \(entry.path) gave \(total) bytes, more than its \(entry.size)" }
            }
            if total != entry.size, reader.remaining == 0 { return "entry \(entry.path) ended at \(total) of \(entry.size) without an error" }
        }
        return nil
    }
}
