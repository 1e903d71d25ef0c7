import Foundation

extension AuthSettings {
    /// Adds the tokens of `tokensFile` (one per line; blank lines and `#` comments skipped).
    /// - Throws: `ConfigError` naming the key, the file and the line.
    mutating func loadTokensFile(key: String) throws(ConfigError) {
        guard let path = tokensFile else { return }
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            throw ConfigError(key: key, "cannot read \(path): \(error.reason)")
        }
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            do {
                tokens.append(AuthToken(secret: try ServiceConfig.parseSecret(line, key: key), name: "\(path):\(index + 1)"))
            } catch {
                throw ConfigError(key: key, "\(path) line \(index + 1): a token must be one word without spaces")
            }
        }
    }
}
