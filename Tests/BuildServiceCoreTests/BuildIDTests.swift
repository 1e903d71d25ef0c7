import BuildServiceCore
import Testing

/// Build ids are used in paths and URLs as they are: exactly `bld_` and 32 lowercase hex digits.
struct BuildIDTests {
    @Test func madeIdHasTheDocumentedFormat() {
        for _ in 0..<100 {
            let id = BuildID.make()
            #expect(BuildID.isValid(id), "\(id)")
            #expect(id.hasPrefix("bld_"))
            #expect(id.count == 36)
            #expect(id.dropFirst(4).allSatisfy { "0123456789abcdef".contains($0) }, "\(id)")
        }
    }

    @Test func twoIdsDiffer() {
        let ids = Set((0..<1000).map { _ in BuildID.make() })
        #expect(ids.count == 1000)
    }

    @Test func wellFormedIdIsValid() {
        #expect(BuildID.isValid("bld_0123456789abcdef0123456789abcdef"))
        #expect(BuildID.isValid("bld_" + String(repeating: "0", count: 32)))
    }

    @Test(
        arguments: [
            "bld_../x",
            "bld_../../../../../../../../etc/passwd",
            "bld_0123456789ABCDEF0123456789ABCDEF",
            "bld_0123456789abcdef0123456789abcdeF",
            "bld_0123456789abcdef0123456789abcde",
            "bld_0123456789abcdef0123456789abcdef0",
            "bid_0123456789abcdef0123456789abcdef",
            "BLD_0123456789abcdef0123456789abcdef",
            "bld_0123456789abcdef0123456789abcdeg",
            "bld_0123456789abcdef/123456789abcdef",
            "bld_0123456789abcdef0123456789abcd\u{e9}",
            "",
            "bld_",
        ]
    )
    func malformedIdIsInvalid(text: String) {
        #expect(!BuildID.isValid(text))
    }
}
