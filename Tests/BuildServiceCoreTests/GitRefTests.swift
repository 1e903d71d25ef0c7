import BuildServiceCore
import Testing

/// `ref` values: names and commit ids pass; anything git could read as an option, a revision
/// expression or a path trick does not.
struct GitRefTests {
    @Test(arguments: ["main", "feature/login", "v1.2.3", "release-2026.11", "HEAD", "a1b2c3d", String(repeating: "f", count: 40), "x_y"])
    func branchTagAndCommitNamesAreAccepted(ref: String) {
        #expect(GitRef.problem(with: ref) == nil)
    }

    @Test(arguments: [
        "", "-b", "--upload-pack=x", "../x", "a..b", "@{-1}", "@", "HEAD~1", "HEAD^", "a:b", "a?b", "a*b", "a[b", "a\\b", "a b",
        "a\u{0}b", "a\u{7f}", "/main", "main/", "main.", "x.lock", "refs/.hidden", "a//b", String(repeating: "a", count: 256),
    ])
    func optionsExpressionsAndMalformedNamesAreRefused(ref: String) {
        #expect(GitRef.problem(with: ref) != nil, "\(ref)")
    }
}
