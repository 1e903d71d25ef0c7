import Glibc

extension dirent {
    /// The entry's name (`d_name`, a NUL-terminated array inside the struct); nil when it is
    /// not UTF-8. Decoded leniently, such a name would turn into one that names nothing on disk
    /// (its bad bytes replaced), and whatever it named would silently be skipped.
    var name: String? {
        withUnsafePointer(to: d_name) { String(validatingCString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }
}
