import Foundation

/// Reads a text file the operator named, with a reason a person can act on ("No such file or
/// directory", "Permission denied", "is not UTF-8 text") instead of Foundation's
/// "The operation could not be completed".
enum TextFile {
    struct Unreadable: Error {
        var reason: String
    }

    static func read(_ path: String) throws(Unreadable) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Unreadable(reason: String(cString: strerror(errno))) }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        let data: Data
        do {
            data = try handle.readToEnd() ?? Data()
        } catch {
            throw Unreadable(reason: (error as NSError).code == Int(EISDIR) ? "is a directory" : "cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw Unreadable(reason: "is not UTF-8 text") }
        return text
    }
}
