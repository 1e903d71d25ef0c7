import NIOCore
import NIOHTTP1
import Testing

@testable import BuildServiceServer

/// The connection's framing, step by step, without a channel.
@Suite struct HTTPConnectionStateTests {
    typealias State = HTTPConnectionState<String>

    private func head(_ uri: String = "/", version: HTTPVersion = .http1_1, headers: [(String, String)] = []) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: .POST, uri: uri, headers: HTTPHeaders(headers))
    }

    @Test func aRequestIsJudgedAtItsHeadAndAnsweredAtItsEndWithItsWholeBody() throws {
        var state = State(maxBodyBytes: 10, halfCloseIsDisconnect: true)
        guard case .judge(let judged) = state.read(.head(head("/a"))) else { Issue.record("head not judged"); return }
        #expect(state.accepted(judged, as: "request a") == .readBody)
        _ = state.read(.body(ByteBuffer(string: "12345")))
        _ = state.read(.body(ByteBuffer(string: "678")))
        guard case .respond(let answered, let request, let body) = state.read(.end(nil)) else { Issue.record("no answer"); return }
        #expect(answered.uri == "/a")
        #expect(request == "request a")
        #expect(String(buffer: body) == "12345678")
    }

    @Test func aBodyOverTheLimitIsRefusedAndTheRestDropped() {
        var state = State(maxBodyBytes: 4, halfCloseIsDisconnect: true)
        _ = state.read(.head(head()))
        _ = state.accepted(head(), as: "r")
        #expect(state.read(.body(ByteBuffer(string: "1234"))).isNone)
        guard case .refuseTooLarge = state.read(.body(ByteBuffer(string: "5"))) else { Issue.record("not refused"); return }
        #expect(state.read(.body(ByteBuffer(string: "6"))).isNone)
        #expect(state.read(.end(nil)).isNone, "a refused request is never answered again")
    }

    @Test func aContentLengthOverTheLimitIsRefusedBeforeTheBody() {
        var state = State(maxBodyBytes: 4, halfCloseIsDisconnect: true)
        let large = head(headers: [("Content-Length", "5")])
        _ = state.read(.head(large))
        #expect(state.accepted(large, as: "r") == .refuseTooLarge)
        #expect(state.read(.end(nil)).isNone)
    }

    @Test func requestsPipelinedDuringAResponseWaitAndAreReplayedInOrder() {
        var state = State(maxBodyBytes: 100, halfCloseIsDisconnect: true)
        _ = state.read(.head(head("/1")))
        _ = state.accepted(head("/1"), as: "1")
        _ = state.read(.end(nil))
        // Responding: the next request waits.
        #expect(state.read(.head(head("/2"))).isNone)
        #expect(state.read(.end(nil)).isNone)
        #expect(state.read(.head(head("/3"))).isNone)
        #expect(state.responseEnded(closeAfter: false, channelIsActive: true) == .replayPipelined)
        let replayed = state.takePipelined()
        #expect(replayed.count == 3)
        guard case .head(let second) = replayed[0], case .head(let third) = replayed[2] else { Issue.record("order"); return }
        #expect(second.uri == "/2")
        #expect(third.uri == "/3")
        guard case .judge = state.read(replayed[0]) else { Issue.record("replayed head not judged"); return }
    }

    @Test(arguments: [
        // (version, Connection header, input closed) → closes after
        (HTTPVersion.http1_1, nil as String?, false, false),
        (.http1_1, "close", false, true),
        (.http1_1, nil, true, true),
        (.http1_0, nil, false, true),
        (.http1_0, "keep-alive", false, true),
    ])
    func theConnectionClosesAfterAResponseWhenTheClientAskedStoppedOrSpeaksHTTP10(
        version: HTTPVersion,
        connection: String?,
        inputClosed: Bool,
        closes: Bool
    ) {
        var state = State(maxBodyBytes: 100, halfCloseIsDisconnect: false)
        if inputClosed { _ = state.inputEnded() }
        let request = head(version: version, headers: connection.map { [("Connection", $0)] } ?? [])
        #expect(state.closesAfter(request) == closes)
    }

    @Test func aHalfCloseDuringAResponseIsADisconnectOnTCPButNotOnTheUnixSocket() {
        for (halfCloseIsDisconnect, expected) in [(true, State.InputClosedAction.cancelResponseAndClose), (false, .none)] {
            var state = State(maxBodyBytes: 100, halfCloseIsDisconnect: halfCloseIsDisconnect)
            _ = state.read(.head(head()))
            _ = state.accepted(head(), as: "r")
            _ = state.read(.end(nil))
            #expect(state.inputEnded() == expected)
            // Unix socket: the answer goes out, then the connection closes.
            if !halfCloseIsDisconnect { #expect(state.responseEnded(closeAfter: false, channelIsActive: true) == .close) }
        }
    }

    @Test func aHalfCloseBetweenRequestsCloses() {
        var state = State(maxBodyBytes: 100, halfCloseIsDisconnect: false)
        #expect(state.inputEnded() == .close)
    }

    @Test func theIdleTimeoutClosesExceptDuringAResponse() {
        var state = State(maxBodyBytes: 100, halfCloseIsDisconnect: true)
        #expect(state.closesOnIdle())
        _ = state.read(.head(head()))
        _ = state.accepted(head(), as: "r")
        #expect(state.closesOnIdle(), "a body that trickles in is bounded by the read timeout")
        _ = state.read(.end(nil))
        #expect(!state.closesOnIdle())
    }

    @Test func pipelinedRequestsAreDroppedWhenTheResponseClosesTheConnection() {
        var state = State(maxBodyBytes: 100, halfCloseIsDisconnect: true)
        _ = state.read(.head(head()))
        _ = state.accepted(head(), as: "r")
        _ = state.read(.end(nil))
        _ = state.read(.head(head("/next")))
        #expect(state.responseEnded(closeAfter: true, channelIsActive: true) == .close)
        #expect(state.takePipelined().isEmpty)
    }
}

extension HTTPConnectionState.ReadAction {
    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}
