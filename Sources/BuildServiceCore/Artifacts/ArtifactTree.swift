import CBuildServiceSystem
import Foundation

/// A project tree seen as the build's user sees it, for collecting artifacts: every name is
/// looked up beneath the root by the kernel (a symlink may lead elsewhere inside the root, never
/// out of it), directories are listed only when the build's user could list them, and files
/// are opened only when it could read them. So no name or byte from outside the root, or from
/// inside a directory closed to the build, reaches the store or an error message.
final class ArtifactTree {
    private let rootDescriptor: Int32
    /// Where the root is, as the kernel names it (for `reachable`), read once.
    private let rootPath: String?
    let reader: ArtifactReader?

    /// What a looked-up name is.
    enum Kind {
        case directory
        case file
        /// Only when not following.
        case symlink
        case other
    }

    /// - Throws: when the root cannot be opened.
    init(root: String, reader: ArtifactReader?) throws(ArtifactCollectionError) {
        let descriptor = Glibc.open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { throw .failed("the project root \(root) cannot be opened") }
        self.rootDescriptor = descriptor
        self.rootPath = reader == nil ? nil : Self.path(of: descriptor)
        self.reader = reader
    }

    deinit {
        close(rootDescriptor)
    }

    /// Opens `relative` (symlinks followed only while they stay beneath the root) for reading.
    /// - Throws: `failed` naming `relative` and `pattern` when it leads out of the root or
    ///   cannot be opened; a missing name is `nil`.
    func open(_ relative: String, pattern: String) throws(ArtifactCollectionError) -> Int32? {
        // A fresh descriptor even for the root (a dup would share its directory offset).
        let descriptor = relative == "." ? openat(rootDescriptor, ".", O_RDONLY | O_CLOEXEC) : bs_open_beneath(rootDescriptor, relative)
        if descriptor >= 0 {
            guard reachable(descriptor) else {
                close(descriptor)
                return nil
            }
            return descriptor
        }
        switch errno {
        case ENOENT, ENOTDIR: return nil
        case EXDEV, ELOOP: throw .failed("artifact \"\(relative)\" (pattern \"\(pattern)\") leads outside the project root")
        case ENOSYS, EPERM: throw .failed("artifact \"\(relative)\" cannot be opened safely: this kernel lacks openat2 (Linux 5.6+)")
        default: throw .failed("artifact \"\(relative)\" (pattern \"\(pattern)\") cannot be read (\(String(cString: strerror(errno))))")
        }
    }

    /// The names in directory `relative` (without `.` and `..`, sorted), each with what it is
    /// (symlinks not followed, judged through the listing's own descriptor), or nil when it is
    /// not a directory, is missing, or the build's user could not have listed it.
    func entries(of relative: String, pattern: String) throws(ArtifactCollectionError) -> [(name: String, kind: Kind)]? {
        guard let descriptor = try open(relative, pattern: pattern) else { return nil }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, may([.read, .search], info),
            let listing = fdopendir(descriptor)
        else {
            close(descriptor)
            return nil
        }
        defer { closedir(listing) }
        var entries: [(name: String, kind: Kind)] = []
        while let entry = readdir(listing) {
            guard let name = entry.pointee.name else {
                throw .failed("a name in artifact directory \"\(relative)\" (pattern \"\(pattern)\") is not UTF-8; artifact names must be")
            }
            guard name != "." && name != ".." else { continue }
            guard fstatat(dirfd(listing), name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw .failed("artifact \"\(relative)/\(name)\" (pattern \"\(pattern)\") is gone")
            }
            entries.append((name, Self.kind(info)))
        }
        return entries.sorted { $0.name < $1.name }
    }

    /// What `name` in directory `relative` is, without following it when it is a symlink
    /// (`following` false), or after following it beneath the root. Nil when it is missing or
    /// the build's user could not have looked into `relative`.
    func kind(of name: String, in relative: String, following: Bool, pattern: String) throws(ArtifactCollectionError) -> Kind? {
        guard let directory = try open(relative, pattern: pattern) else { return nil }
        defer { close(directory) }
        var info = stat()
        guard fstat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, may(.search, info) else { return nil }
        if following {
            let path = relative == "." ? name : relative + "/" + name
            guard let target = try open(path, pattern: pattern) else { return nil }
            defer { close(target) }
            guard fstat(target, &info) == 0 else { return nil }
        } else {
            guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        }
        return Self.kind(info)
    }

    private static func kind(_ info: stat) -> Kind {
        switch info.st_mode & S_IFMT {
        case S_IFDIR: .directory
        case S_IFREG: .file
        case S_IFLNK: .symlink
        default: .other
        }
    }

    /// Whether the build's user could have walked to what `descriptor` names: it needs search
    /// permission on every directory from the root down to it. (A symlink inside the root may
    /// lead through a directory the walk itself never listed.)
    private func reachable(_ descriptor: Int32) -> Bool {
        guard reader != nil else { return true }
        guard let path = Self.path(of: descriptor), let rootPath else { return false }
        let below: Substring
        if path == rootPath {
            below = ""
        } else if path.hasPrefix(rootPath == "/" ? "/" : rootPath + "/") {
            below = path.dropFirst(rootPath == "/" ? 1 : rootPath.count + 1)
        } else {
            return false
        }
        var ancestors = ["."]
        var prefix = ""
        for component in below.split(separator: "/").dropLast() {
            prefix += prefix.isEmpty ? String(component) : "/" + component
            ancestors.append(prefix)
        }
        for ancestor in ancestors {
            let handle = ancestor == "." ? dup(rootDescriptor) : bs_open_path_beneath(rootDescriptor, ancestor, 1)
            guard handle >= 0 else { return false }
            var info = stat()
            let statted = fstat(handle, &info)
            close(handle)
            guard statted == 0, may(.search, info) else { return false }
        }
        return true
    }

    private static func path(of descriptor: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = buffer.withUnsafeMutableBufferPointer { pointer in
            pointer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: pointer.count) {
                readlink("/proc/self/fd/\(descriptor)", $0, pointer.count - 1)
            }
        }
        guard length > 0 else { return nil }
        return String(decoding: buffer[..<length], as: UTF8.self)
    }

    /// Whether the build's user has `access` to what `info` describes.
    func may(_ access: ArtifactReader.Access, _ info: stat) -> Bool {
        reader?.may(access, info) ?? true
    }
}
