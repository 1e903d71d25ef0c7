import Glibc

extension dirent {
    /// The entry's name (`d_name`, a NUL-terminated array inside the struct).
    var name: String {
        withUnsafePointer(to: d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }
}
