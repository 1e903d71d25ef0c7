import BuildClient
import FoundationEssentials
import Glibc

/// `--token-file`: a token that `ps` does not show. Like ssh with a private key, a file others
/// can read is worth a warning (it still works: the owner may mean it).
enum TokenFile {
    /// The file's first line, without surrounding whitespace; never echoed in an error.
    static func read(_ path: String, option: String) throws(ClientError) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ClientError.usage("\(option) \(path): \(String(cString: strerror(errno))); put the token in a file only you can read (chmod 600)")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw ClientError.usage("\(option) \(path) is not a regular file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ClientError.usage("\(option) \(path) cannot be read (permission denied?)")
        }
        let firstLine = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let token = firstLine.trimmedWhitespace
        guard !token.isEmpty else { throw ClientError.usage("\(option) \(path) holds no token (its first line is empty)") }
        if info.st_mode & 0o077 != 0 {
            EventPrinter.complain(
                "warning: \(option) \(path) can be read by other users (mode 0\(String(info.st_mode & 0o777, radix: 8))); chmod 600 \(path)"
            )
        }
        return token
    }
}
