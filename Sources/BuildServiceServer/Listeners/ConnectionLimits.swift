import BuildServiceCore
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The caps on open TCP connections, shared by every HTTP(S) listening socket: all of them
/// together (`service.max_connections`, so that a flood cannot take the descriptors the Unix
/// socket, builds and artifact files need) and those from one client address
/// (`service.http.max_connections_per_ip`, so that one client cannot take them all). A
/// connection over a cap is closed at accept, without a handshake; over the per-address cap on
/// plain HTTP, its first read is answered `503` with `Retry-After` first
/// (`TooManyConnectionsAnswer`). Refusals are counted in `/metrics` and logged at most once per
/// `logInterval`.
final class ConnectionLimits: Sendable {
    enum Admission: Equatable {
        case admitted
        /// Over the total: close at once.
        case overTotal
        /// Over the address's cap, and the caller can answer it (counted in the total until closed).
        case answerOverPerAddress
        /// Over the address's cap: close at once.
        case overPerAddress
    }

    /// The error a connection's initializer fails with to have it closed at accept.
    struct Refused: Error {}

    let maxTotal: Int
    let maxPerAddress: Int
    private let metrics: BuildMetrics
    private let logger: Logger
    private static let logInterval: Int64 = 10

    /// Connections over their address's cap being answered at once (each held up to
    /// `TooManyConnectionsAnswer.patience`); past it they are closed at once: the answers must
    /// not become a way around the caps.
    static let maxAnswering = 64

    private struct State {
        var open = 0
        var answering = 0
        var perAddress: [ClientAddress: Int] = [:]
        /// Refusals since the last log line, and that line's time (seconds).
        var unlogged = 0
        var loggedAt: Int64 = 0
    }
    private let state = NIOLockedValueBox(State())

    init(maxTotal: Int, maxPerAddress: Int, metrics: BuildMetrics, logger: Logger) {
        self.maxTotal = maxTotal
        self.maxPerAddress = maxPerAddress
        self.metrics = metrics
        self.logger = logger
    }

    /// Connections open now.
    var open: Int { state.withLockedValue { $0.open } }

    /// Counts a just-accepted connection until it closes, or says why it may not stay.
    /// - Parameter canAnswer: whether a refusal over the address's cap can be answered cheaply.
    func admit(_ channel: any Channel, canAnswer: Bool) -> Admission {
        let address = ClientAddress(channel.remoteAddress)
        let now = Int64(time(nil))
        let (admission, logDue) = state.withLockedValue { state -> (Admission, Int?) in
            let admission = count(address, canAnswer: canAnswer, in: &state)
            guard admission != .admitted else { return (admission, nil) }
            state.unlogged += 1
            guard now - state.loggedAt >= Self.logInterval else { return (admission, nil) }
            state.loggedAt = now
            defer { state.unlogged = 0 }
            return (admission, state.unlogged)
        }
        switch admission {
        case .admitted:
            channel.closeFuture.whenComplete { _ in self.release(address) }
        case .answerOverPerAddress:
            channel.closeFuture.whenComplete { _ in self.release(nil, answered: true) }
        case .overTotal, .overPerAddress:
            break
        }
        if admission != .admitted {
            let overTotal = admission == .overTotal
            metrics.connectionRefused(reason: overTotal ? "max_connections" : "max_connections_per_ip")
            if let refusals = logDue {
                logger.warning(
                    overTotal
                        ? "connection refused: service.max_connections reached" : "connection refused: service.http.max_connections_per_ip reached",
                    metadata: [
                        LogKey.peer: .string(PeerDescription.of(channel)), "limit": .stringConvertible(overTotal ? maxTotal : maxPerAddress),
                        "refused_since_last_line": .stringConvertible(refusals),
                    ]
                )
            }
        }
        return admission
    }

    /// What a new connection from `address` is told, counted in `state` unless it is closed at once.
    private func count(_ address: ClientAddress?, canAnswer: Bool, in state: inout State) -> Admission {
        guard state.open < maxTotal else { return .overTotal }
        guard let address else {
            state.open += 1
            return .admitted
        }
        let held = state.perAddress[address, default: 0]
        guard held < maxPerAddress else {
            guard canAnswer, state.answering < Self.maxAnswering else { return .overPerAddress }
            state.open += 1
            state.answering += 1
            return .answerOverPerAddress
        }
        state.open += 1
        state.perAddress[address] = held + 1
        return .admitted
    }

    private func release(_ address: ClientAddress?, answered: Bool = false) {
        state.withLockedValue { state in
            state.open -= 1
            if answered { state.answering -= 1 }
            guard let address, let count = state.perAddress[address] else { return }
            state.perAddress[address] = count > 1 ? count - 1 : nil
        }
    }
}
