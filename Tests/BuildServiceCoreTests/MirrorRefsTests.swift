import Testing

@testable import BuildServiceCore

/// Which refs a mirror keeps and what a requested ref may resolve to.
struct MirrorRefsTests {
    let pulls = MirrorRefs(allowedPatterns: ["refs/pull/*/head", "refs/notes/commits"])

    @Test func branchesTagsAndAllowedRefsAreKeptAndNothingElse() {
        for kept in ["refs/heads/main", "refs/heads/a/b", "refs/tags/v1", "refs/pull/12/head", "refs/pull/1/2/head", "refs/notes/commits"] {
            #expect(pulls.keeps(kept), "\(kept)")
        }
        for dropped in ["refs/pull/12/merge", "refs/pull//head", "refs/notes/other", "refs/remotes/origin/main", "refs/changes/1", "HEAD"] {
            #expect(!pulls.keeps(dropped), "\(dropped)")
        }
        #expect(!MirrorRefs().keeps("refs/pull/1/head"))
        // A star may match nothing, as in git's refspecs (`+refs/foo*:refs/foo*` fetches refs/foo).
        #expect(MirrorRefs(allowedPatterns: ["refs/foo*"]).keeps("refs/foo"))
        #expect(MirrorRefs(allowedPatterns: ["refs/foo*"]).keeps("refs/foobar"))
        #expect(!MirrorRefs(allowedPatterns: ["refs/foo*"]).keeps("refs/fo"))
    }

    @Test func fetchesAskForEachKeptNamespaceUnderItsOwnName() {
        #expect(
            pulls.refspecs == [
                "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*", "+refs/pull/*/head:refs/pull/*/head",
                "+refs/notes/commits:refs/notes/commits",
            ]
        )
        #expect(pulls.listingPrefixes == ["refs/heads/", "refs/tags/", "refs/pull/", "refs/notes/commits"])
    }

    @Test func aRefIsTriedAsBranchTagAllowedRefThenCommitID() {
        #expect(pulls.candidates("HEAD") == [.ref("HEAD")])
        #expect(pulls.candidates("main") == [.ref("refs/heads/main"), .ref("refs/tags/main")])
        #expect(
            pulls.candidates("pull/3/head") == [.ref("refs/heads/pull/3/head"), .ref("refs/tags/pull/3/head"), .ref("refs/pull/3/head")]
        )
        #expect(MirrorRefs().candidates("pull/3/head") == [.ref("refs/heads/pull/3/head"), .ref("refs/tags/pull/3/head")])
        #expect(pulls.candidates("cafe12") == [.ref("refs/heads/cafe12"), .ref("refs/tags/cafe12"), .commitID("cafe12")])
    }

    @Test(arguments: ["refs/pull/*/head", "refs/changes/*", "refs/notes/commits"])
    func patternsMayBeFullNamesWithOneStar(pattern: String) {
        #expect(MirrorRefs.problem(with: pattern) == nil)
    }

    @Test(arguments: ["pull/*/head", "refs/", "refs/*/*", "refs/a b", "refs/x..y", "refs/-x/../y", "refs/a:b"])
    func otherPatternsAreRefused(pattern: String) {
        #expect(MirrorRefs.problem(with: pattern) != nil, "\(pattern)")
    }
}
