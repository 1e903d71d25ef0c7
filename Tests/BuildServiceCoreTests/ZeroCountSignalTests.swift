import Testing

@testable import BuildServiceCore

/// Waiting for a count of things in progress to reach zero, without polling.
@Suite(.timeLimit(.minutes(1))) struct ZeroCountSignalTests {
    @Test func aWaitReturnsAtOnceWhenNothingIsInProgress() async {
        let signal = ZeroCountSignal()
        await signal.waitForZero()
        signal.increment()
        signal.decrement()
        await signal.waitForZero()
        #expect(signal.count == 0)
    }

    @Test func everyWaiterIsWokenWhenTheLastOneEnds() async {
        let signal = ZeroCountSignal()
        signal.increment()
        signal.increment()
        let waiters = (0..<3).map { _ in
            Task {
                await signal.waitForZero(); return signal.count
            }
        }
        // All three asleep first: the wake-up is what is tested, not a wait that found zero.
        while signal.waiting < 3 { await Task.yield() }
        signal.decrement()
        signal.decrement()
        for waiter in waiters { #expect(await waiter.value == 0) }
    }

    @Test func aWaitWithALimitReturnsWhileThingsAreStillInProgress() async {
        let signal = ZeroCountSignal()
        signal.increment()
        await signal.waitForZero(within: .milliseconds(20))
        #expect(signal.count == 1)
        // The waiter the limit abandoned is gone: the end wakes nobody twice.
        signal.decrement()
        await signal.waitForZero()
    }

    @Test func aCancelledWaitReturns() async {
        let signal = ZeroCountSignal()
        signal.increment()
        let waiter = Task { await signal.waitForZero() }
        waiter.cancel()
        await waiter.value
        #expect(signal.count == 1)
        signal.decrement()
    }
}
