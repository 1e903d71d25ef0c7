/// Which refs a repo project's mirror holds and which commits a build may check out: branches
/// and tags, plus the operator's `allowed_refs` patterns (`refs/pull/*/head`, say). A forge
/// serves more (pull requests, review changes, notes) and a mirror keeps objects after their
/// ref is gone, so a commit id is built only when one of these refs reaches it.
public struct MirrorRefs: Sendable, Equatable {
    /// Full ref names or patterns with one `*` (matching any text, `/` included, as in a
    /// refspec), each starting with `refs/`.
    public let allowedPatterns: [String]

    public init(allowedPatterns: [String] = []) {
        self.allowedPatterns = allowedPatterns
    }

    /// What a fetch asks for: each kept ref under its own name, pruned when gone upstream.
    var refspecs: [String] {
        (["refs/heads/*", "refs/tags/*"] + allowedPatterns).map { "+\($0):\($0)" }
    }

    /// `for-each-ref` patterns that cover every kept ref (prefixes up to a slash; the exact
    /// test is `keeps`).
    var listingPrefixes: [String] {
        var prefixes = ["refs/heads/", "refs/tags/"]
        for pattern in allowedPatterns {
            guard let star = pattern.firstIndex(of: "*") else {
                prefixes.append(pattern)
                continue
            }
            let head = pattern[..<star]
            prefixes.append(String(head[...(head.lastIndex(of: "/") ?? head.startIndex)]))
        }
        return prefixes
    }

    /// Whether the mirror keeps `ref` (a full name).
    func keeps(_ ref: String) -> Bool {
        if ref.hasPrefix("refs/heads/") || ref.hasPrefix("refs/tags/") { return true }
        return allowedPatterns.contains { Self.matches($0, ref) }
    }

    static func matches(_ pattern: String, _ ref: String) -> Bool {
        guard let star = pattern.firstIndex(of: "*") else { return pattern == ref }
        let head = pattern[..<star]
        let tail = pattern[pattern.index(after: star)...]
        // As git's refspecs: the `*` may match nothing (`refs/foo*` fetches `refs/foo` too);
        // never into an empty path component, which no ref name has.
        return ref.count >= head.count + tail.count && ref.hasPrefix(head) && ref.hasSuffix(tail) && !ref.contains("//")
    }

    /// One way a requested ref may name a commit, in the order they are tried.
    enum Candidate: Equatable {
        /// A ref the mirror keeps (`HEAD`, a branch, a tag, an allowed ref): taken as it is.
        case ref(String)
        /// A full or abbreviated commit id: built only when a kept ref reaches it.
        case commitID(String)
    }

    /// What `ref` may mean, in order: the default branch (`HEAD`), a branch, a tag, an allowed
    /// ref (`pull/1/head` or `refs/pull/1/head` under `refs/pull/*/head`), a commit id.
    func candidates(_ ref: String) -> [Candidate] {
        if ref == "HEAD" { return [.ref("HEAD")] }
        var candidates: [Candidate] = [.ref("refs/heads/" + ref), .ref("refs/tags/" + ref)]
        for full in [ref, "refs/" + ref] where full.hasPrefix("refs/") && keeps(full) && !candidates.contains(.ref(full)) {
            candidates.append(.ref(full))
        }
        if (4...40).contains(ref.count), ref.allSatisfy(\.isHexDigit) { candidates.append(.commitID(ref)) }
        return candidates
    }

    /// `nil` when `pattern` may be an `allowed_refs` entry, else why not (for the config error).
    public static func problem(with pattern: String) -> String? {
        guard pattern.hasPrefix("refs/"), pattern.count > 5 else { return "\"\(pattern)\" must be a full ref name starting with refs/" }
        guard pattern.filter({ $0 == "*" }).count <= 1 else { return "\"\(pattern)\" may hold one * at most" }
        let withoutStar = pattern.replacingOccurrences(of: "*", with: "x")
        if let problem = GitRef.problem(with: withoutStar) { return problem }
        return nil
    }
}
