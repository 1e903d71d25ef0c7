import Foundation
import Testing

@testable import BuildServiceCore

/// The parser's own thread: its result and error come back, and a thread that cannot be
/// created is an error, not a wait that never ends (Foundation's Thread ignored the failure).
struct ThreadWithStackTests {
    struct Planted: Error {}

    @Test func theJobsResultAndErrorComeBack() throws {
        #expect(try ThreadWithStack.run(stackBytes: 1 << 20) { 42 } == 42)
        #expect(throws: Planted.self) { try ThreadWithStack.run(stackBytes: 1 << 20) { () throws -> Int in throw Planted() } }
    }

    @Test func aStackThatCannotBeHadIsAnError() {
        // 1 PiB of stack: no machine maps it.
        #expect(throws: ThreadWithStack.CannotStart.self) { try ThreadWithStack.run(stackBytes: 1 << 50) { 1 } }
    }
}
