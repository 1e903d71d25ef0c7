import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import BuildServiceServer

/// The request deadlines on an embedded channel, driven by hand: bytes arrive, the connection
/// handler's progress comes back, and the embedded clock moves. Head 15 s, body 60 s.
@Suite struct RequestDeadlinesTests {
    final class Connection {
        let channel = EmbeddedChannel()
        let expired = NIOLockedValueBox<[Bool]>([])

        /// - Parameter minBodyRate: bytes per second a body must average after its grace.
        init(minBodyRate: Int = 0) throws {
            let expired = self.expired
            try channel.pipeline.syncOperations.addHandler(
                RequestDeadlines(.init(headSec: 15, bodySec: 60, minBodyBytesPerSec: minBodyRate)) { readingHead in
                    expired.withLockedValue { $0.append(readingHead) }
                }
            )
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
        }

        func bytes(_ text: String = "x") throws { try channel.writeInbound(ByteBuffer(string: text)) }
        func progress(_ progress: RequestProgress) { channel.pipeline.triggerUserOutboundEvent(progress, promise: nil) }
        func wait(_ seconds: Int64) { channel.embeddedEventLoop.advanceTime(by: .seconds(seconds)) }
        var isOpen: Bool { channel.isActive }
        /// `true` per head deadline, `false` per body deadline that fired.
        var expiries: [Bool] { expired.withLockedValue { $0 } }
    }

    @Test func anIdleConnectionIsNotTimed() throws {
        let connection = try Connection()
        connection.wait(3600)
        #expect(connection.isOpen)
    }

    /// The deadline counts from the first byte: more bytes do not move it.
    @Test func aHeadThatTricklesInIsClosedFifteenSecondsAfterItsFirstByte() throws {
        let connection = try Connection()
        for _ in 0..<14 {
            try connection.bytes()
            connection.wait(1)
        }
        #expect(connection.isOpen)
        connection.wait(1)
        #expect(!connection.isOpen)
        #expect(connection.expiries == [true])
    }

    @Test func aBodyHasItsOwnDeadlineFromTheHead() throws {
        let connection = try Connection()
        try connection.bytes()
        connection.wait(10)
        connection.progress(.headRead(bodyFollows: true))
        connection.wait(59)
        #expect(connection.isOpen)
        connection.wait(1)
        #expect(!connection.isOpen)
        #expect(connection.expiries == [false])
    }

    /// At 100 bytes a second minimum, a head and then nothing is closed at the grace's end (5 s),
    /// not at the body's total deadline (60 s).
    @Test func aBodyThatDoesNotComeIsClosedAfterTheRateGrace() throws {
        let connection = try Connection(minBodyRate: 100)
        try connection.bytes()
        connection.progress(.headRead(bodyFollows: true))
        connection.wait(4)
        #expect(connection.isOpen)
        connection.wait(1)
        #expect(!connection.isOpen)
        #expect(connection.expiries == [false])
    }

    /// A body that starts in the head's own read counts from there: 1000 bytes with the head
    /// buy 10 s at 100 B/s past the grace (they were not counted, and the connection closed
    /// at the grace's end).
    @Test func bodyBytesThatCameWithTheHeadBuyTime() throws {
        let connection = try Connection(minBodyRate: 100)
        try connection.channel.pipeline.syncOperations.addHandler(HeadReadInTheSameRead())
        try connection.bytes(String(repeating: "x", count: 1000))
        connection.wait(14)
        #expect(connection.isOpen)
        connection.wait(2)
        #expect(!connection.isOpen)
        #expect(connection.expiries == [false])
    }

    /// Reports the head as read (with a body to follow) from inside the read that brought it,
    /// as the HTTP handler does.
    final class HeadReadInTheSameRead: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.triggerUserOutboundEvent(RequestProgress.headRead(bodyFollows: true), promise: nil)
        }
    }

    /// Each byte buys time at the minimum rate: 200 bytes at 100 B/s, 2 s past the grace.
    @Test func bytesOfTheBodyBuyTimeAtTheMinimumRate() throws {
        let connection = try Connection(minBodyRate: 100)
        try connection.bytes()
        connection.progress(.headRead(bodyFollows: true))
        connection.wait(1)
        try connection.bytes(String(repeating: "b", count: 200))
        connection.wait(5)
        #expect(connection.isOpen)
        connection.wait(1)
        #expect(!connection.isOpen)
        #expect(connection.expiries == [false])
    }

    /// A body steadily above the rate lives to the total deadline and no further.
    @Test func aBodyAboveTheRateStillHasTheTotalDeadline() throws {
        let connection = try Connection(minBodyRate: 100)
        try connection.bytes()
        connection.progress(.headRead(bodyFollows: true))
        for _ in 0..<59 {
            try connection.bytes(String(repeating: "b", count: 150))
            connection.wait(1)
        }
        #expect(connection.isOpen)
        connection.wait(1)
        #expect(!connection.isOpen)
        #expect(connection.expiries == [false])
    }

    /// Once read, a request is answered at its own pace (the send timeout's business), and the
    /// connection then waits untimed for the next one.
    @Test func answeringAndWaitingAfterwardsAreNotTimed() throws {
        let connection = try Connection()
        try connection.bytes()
        connection.progress(.headRead(bodyFollows: true))
        connection.progress(.requestRead)
        connection.wait(600)
        #expect(connection.isOpen)
        connection.progress(.responseEnded)
        connection.wait(600)
        #expect(connection.isOpen)
        try connection.bytes()
        connection.progress(.headRead(bodyFollows: false))
        connection.wait(600)
        #expect(connection.isOpen)
        #expect(connection.expiries.isEmpty)
    }

    /// A next request's first bytes, pipelined while this one was answered, start its head's
    /// deadline when the answer is out; nothing more need arrive.
    @Test func bytesPipelinedDuringAnAnswerAreTimedFromItsEnd() throws {
        let connection = try Connection()
        try connection.bytes()
        connection.progress(.headRead(bodyFollows: false))
        try connection.bytes("GET / HTTP/1.1\r\n")
        connection.wait(100)
        #expect(connection.isOpen)
        connection.progress(.responseEnded)
        connection.wait(14)
        #expect(connection.isOpen)
        connection.wait(1)
        #expect(!connection.isOpen)
        #expect(connection.expiries == [true])
    }

    /// The handler's answer to a request that arrived whole comes back inside the read.
    @Test func aRequestAnsweredWithinTheReadLeavesNothingTimed() throws {
        let connection = try Connection()
        let answering = Answering(connection: connection)
        try connection.channel.pipeline.syncOperations.addHandler(answering)
        try connection.bytes("GET / HTTP/1.1\r\n\r\n")
        connection.wait(3600)
        #expect(connection.isOpen)
        #expect(connection.expiries.isEmpty)
    }

    /// Stands in for the HTTP handler: every read is a whole request, answered at once.
    final class Answering: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let connection: Connection
        init(connection: Connection) { self.connection = connection }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.triggerUserOutboundEvent(RequestProgress.headRead(bodyFollows: false), promise: nil)
            context.triggerUserOutboundEvent(RequestProgress.requestRead, promise: nil)
            context.triggerUserOutboundEvent(RequestProgress.responseEnded, promise: nil)
        }
    }
}
