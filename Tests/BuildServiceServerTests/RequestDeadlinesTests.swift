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

        init() throws {
            let expired = self.expired
            try channel.pipeline.syncOperations.addHandler(
                RequestDeadlines(headTimeout: .seconds(15), bodyTimeout: .seconds(60)) { readingHead in
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
