import BuildServiceCore
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import BuildServiceServer

/// The caps' counting, on embedded channels: what each new connection is told, and that a
/// closed one gives its place back.
@Suite struct ConnectionLimitsTests {
    private func connection(from ip: String) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: ip, port: 40000)).wait()
        return channel
    }

    @Test func anAddressOverItsCapIsAnsweredAndPastTheAnsweringCapClosed() throws {
        let limits = ConnectionLimits(maxTotal: 1000, maxPerAddress: 1, metrics: BuildMetrics(), logger: Logger(label: "test"))
        let first = try connection(from: "192.0.2.1")
        #expect(limits.admit(first, canAnswer: true) == .admitted)
        var answering: [EmbeddedChannel] = []
        for _ in 0..<ConnectionLimits.maxAnswering {
            let channel = try connection(from: "192.0.2.1")
            #expect(limits.admit(channel, canAnswer: true) == .answerOverPerAddress)
            answering.append(channel)
        }
        // The answers must not become a way around the caps.
        #expect(limits.admit(try connection(from: "192.0.2.1"), canAnswer: true) == .overPerAddress)
        #expect(limits.admit(try connection(from: "192.0.2.2"), canAnswer: true) == .admitted)
        #expect(limits.open == 2 + ConnectionLimits.maxAnswering)
        _ = try answering[0].finish()
        #expect(limits.admit(try connection(from: "192.0.2.1"), canAnswer: true) == .answerOverPerAddress)
        _ = try first.finish()
        #expect(limits.admit(try connection(from: "192.0.2.1"), canAnswer: true) == .admitted)
    }

    @Test func overTheTotalNothingIsCountedAndAClosedConnectionFreesItsPlace() throws {
        let limits = ConnectionLimits(maxTotal: 2, maxPerAddress: 64, metrics: BuildMetrics(), logger: Logger(label: "test"))
        let one = try connection(from: "192.0.2.1")
        let two = try connection(from: "192.0.2.2")
        #expect(limits.admit(one, canAnswer: false) == .admitted)
        #expect(limits.admit(two, canAnswer: false) == .admitted)
        #expect(limits.admit(try connection(from: "192.0.2.3"), canAnswer: false) == .overTotal)
        #expect(limits.open == 2)
        _ = try one.finish()
        #expect(limits.open == 1)
        #expect(limits.admit(try connection(from: "192.0.2.3"), canAnswer: false) == .admitted)
        _ = try two.finish()
    }
}
