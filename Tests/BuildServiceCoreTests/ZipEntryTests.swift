import Foundation
import Testing

@testable import BuildServiceCore

/// Entries of zips made by a real zip writer (Python's zipfile, deflated and stored) read back
/// byte for byte, whole, in small pieces and from an offset; damaged zips are refused with an
/// error, never read out of bounds.
@Suite final class ZipEntryTests {
    let directory: String
    /// The files the zips hold: a text that compresses, random bytes that do not, an empty one.
    let files: [String: [UInt8]]

    init() throws {
        var template = Array("/tmp/bs-zip-XXXXXX".utf8CString)
        directory = String(cString: mkdtemp(&template)!)
        var random = SystemRandomNumberGenerator()
        files = [
            "numbers.txt": Array((1...100_000).map(String.init).joined(separator: "\n").utf8),
            "sub/random.bin": (0..<700_000).map { _ in UInt8.random(in: 0...255, using: &random) },
            "empty": [],
        ]
        for (name, bytes) in files {
            try FileManager.default.createDirectory(
                atPath: directory + "/in/" + (name as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true
            )
            _ = FileManager.default.createFile(atPath: directory + "/in/" + name, contents: Data(bytes))
        }
        let script = """
            import sys, zipfile, os
            os.chdir(sys.argv[1] + "/in")
            for name, method in (("deflated.zip", zipfile.ZIP_DEFLATED), ("stored.zip", zipfile.ZIP_STORED)):
                with zipfile.ZipFile("../" + name, "w", method) as z:
                    z.write("sub/")
                    for f in ("numbers.txt", "sub/random.bin", "empty"):
                        z.write(f)
            """
        let made = try ChildProcess.run("/usr/bin/python3", ["-c", script, directory])
        #expect(made.status == 0)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func open(_ name: String) throws -> (descriptor: Int32, size: Int) {
        let descriptor = Glibc.open(directory + "/" + name, O_RDONLY | O_CLOEXEC)
        var info = stat()
        fstat(descriptor, &info)
        return (descriptor, Int(info.st_size))
    }

    private func readAll(_ reader: ZipEntryReader, piece: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while true {
            let next = try reader.next(limit: piece)
            if next.isEmpty { return bytes }
            bytes += next
        }
    }

    @Test(arguments: ["deflated.zip", "stored.zip"])
    func everyEntryReadsBackExactly(zip: String) throws {
        let (descriptor, size) = try open(zip)
        defer { close(descriptor) }
        let listing = try ZipDirectory(descriptor: descriptor, fileSize: size)
        #expect(Set(listing.entries.filter(\.isFile).map(\.path)) == Set(files.keys))
        #expect(listing.entries.contains { $0.path == "sub/" && !$0.isFile })
        for (name, expected) in files {
            let entry = try #require(listing.file(name))
            #expect(entry.size == expected.count)
            for piece in [1 << 20, 4096, 1] where piece > 1 || expected.count < 10_000 {
                #expect(try readAll(ZipEntryReader(descriptor: descriptor, entry: entry), piece: piece) == expected, "\(name) in pieces of \(piece)")
            }
            // From an offset, as a Range asks.
            if expected.count > 300_000 {
                let reader = try ZipEntryReader(descriptor: descriptor, entry: entry)
                try reader.skip(300_000)
                #expect(try reader.next(limit: 100) == Array(expected[300_000..<300_100]))
                #expect(reader.remaining == expected.count - 300_100)
            }
        }
        #expect(listing.file("sub/") == nil && listing.file("missing") == nil)
    }

    @Test func damagedZipsAreRefusedNotReadOutOfBounds() throws {
        let (descriptor, size) = try open("deflated.zip")
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: size)
        _ = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, size, 0) }
        let listing = try ZipDirectory(descriptor: descriptor, fileSize: size)
        let entry = try #require(listing.file("numbers.txt"))

        func attempt(_ damaged: [UInt8]) -> String {
            let path = directory + "/damaged.zip"
            _ = FileManager.default.createFile(atPath: path, contents: Data(damaged))
            let handle = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            defer { close(handle) }
            do {
                let found = try ZipDirectory(descriptor: handle, fileSize: damaged.count)
                guard let again = found.file("numbers.txt") else { return "no entry" }
                _ = try readAll(ZipEntryReader(descriptor: handle, entry: again), piece: 65536)
                return "read"
            } catch {
                return "\(error)"
            }
        }
        #expect(attempt(Array("not a zip at all".utf8)).contains("no end of central directory"))
        #expect(attempt(Array(bytes.prefix(size / 2))).contains("no end of central directory"))
        // The entry's compressed bytes garbled: invalid deflate, or a wrong length; never a crash.
        var garbled = bytes
        for index in entry.dataOffset..<(entry.dataOffset + 64) { garbled[index] = 0xFF }
        #expect(attempt(garbled).contains("cannot be read"), "\(attempt(garbled))")
        // The directory pointing past the end of the file.
        var pointing = bytes
        let end = size - 22
        pointing[end + 16] = 0xFF
        pointing[end + 17] = 0xFF
        #expect(attempt(pointing).contains("outside the file"), "\(attempt(pointing))")
    }
}
