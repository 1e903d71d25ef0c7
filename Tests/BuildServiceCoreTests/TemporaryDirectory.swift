import BuildServiceCore
import Foundation

/// A fresh directory under the system's temporary directory, removed when the value goes away.
/// `path` is canonical (symlinks resolved), the way the daemon sees a project root.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("build-service-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = ContainedPath.realpath(url.path) ?? url.path
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A project tree for validation tests: `sub/Makefile`, and `out -> /etc` (a symlink that
    /// leads out of the root).
    static func project() throws -> TemporaryDirectory {
        let project = try TemporaryDirectory()
        try project.makeDirectory("sub")
        try project.writeFile("sub/Makefile", "all:\n\ttrue\n")
        try project.symlink("out", to: "/etc")
        return project
    }

    /// The directory that holds this one.
    var parent: String {
        URL(fileURLWithPath: path).deletingLastPathComponent().path
    }

    func makeDirectory(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: "\(path)/\(relative)", withIntermediateDirectories: true)
    }

    func writeFile(_ relative: String, _ contents: String = "") throws {
        try Data(contents.utf8).write(to: URL(fileURLWithPath: "\(path)/\(relative)"))
    }

    func symlink(_ relative: String, to destination: String) throws {
        try FileManager.default.createSymbolicLink(atPath: "\(path)/\(relative)", withDestinationPath: destination)
    }
}
