public import BuildServiceProtocol
public import Foundation
import NIOConcurrencyHelpers
public import NIOCore

/// One build as a first-class object: what was asked, where it is, and its events, which
/// outlive any one connection. The build's producer (`BuildExecutor`) appends events; any
/// number of readers (the submitting connection, re-attaching clients) follow them.
///
/// Output moves at the pace of the slowest reader: `append` waits while the log is full of
/// events some attached reader has not handed to its socket yet, which leaves the build blocked
/// on its pipe. Control events (`build`, `error`, `exit`) never wait and never push out
/// undelivered output: they may take the log a little over its budget instead.
public final class BuildRecord: Sendable {
    public let id: String
    /// What was asked; once finished, as kept (see `BuildPlan.keptAfterFinishing`).
    public var plan: BuildPlan { state.withLockedValue { $0.plan } }
    public let owner: BuildOwner
    public let submittedAt: Date
    /// Its way from the request to the last byte (logged at debug level).
    public let stages: BuildStages
    /// Where the build's pipes are read and its timers run.
    public let eventLoop: any EventLoop
    private let state: NIOLockedValueBox<State>

    private struct State {
        var plan: BuildPlan
        var phase = BuildPhase.queued
        var queuePosition: Int?
        var startedAt: Date?
        var finishedAt: Date?
        var exit: BuildExit?
        var log: EventLog
        /// The highest sequence number some reader has handed to its socket.
        var deliveredThrough = 0
        /// What each attached reader has handed to its socket, by the number `attach` gave it.
        var positions: [Int: Int] = [:]
        /// How many readers ever attached.
        var attachments = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
        var producer: CheckedContinuation<Void, Never>?
        var cancelReason: CancelReason?
        /// The build's process has ended (its exit is being reported): too late to cancel.
        var processEnded = false
        var onCancel: (@Sendable (CancelReason) -> Void)?

        /// Events through this number may be dropped to make room: every attached reader has
        /// them. With nobody attached, the furthest any reader got: a client that re-attaches
        /// says what it has, and nobody may hold the build up for good.
        var droppableThrough: Int { positions.values.min() ?? deliveredThrough }
    }

    public init(
        id: String,
        plan: BuildPlan,
        owner: BuildOwner,
        eventBufferBytes: Int,
        eventLoop: any EventLoop,
        receivedAt: ContinuousClock.Instant = .now
    ) {
        self.id = id
        self.stages = BuildStages(since: receivedAt)
        self.owner = owner
        self.submittedAt = Date()
        self.eventLoop = eventLoop
        self.state = NIOLockedValueBox(State(plan: plan, log: EventLog(budget: eventBufferBytes)))
    }

    // MARK: Producer

    /// Appends a control event at once (making room by dropping old events if it must).
    public func post(_ event: BuildEvent) {
        var line = ByteBuffer()
        event.writeLine(to: &line)
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            guard state.phase != .finished else { return [] }
            if case .build(_, let status, let position, _) = event {
                state.queuePosition = position
                if status == "started" {
                    state.phase = .running
                    state.startedAt = Date()
                }
            }
            _ = state.log.makeRoom(for: line.capacity, deliveredThrough: state.droppableThrough, force: state.cancelReason != nil)
            state.log.append(&line)
            return Self.takeWaiters(&state)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Appends an output line (one event), waiting while the log is full of events no reader
    /// has been handed yet. Never waits once the build is cancelled or its task is.
    public func append(_ line: consuming ByteBuffer) async {
        // Owned here, so the log can stamp it without copying it.
        var line = consume line
        while true {
            let appended = state.withLockedValue { state -> [CheckedContinuation<Void, Never>]? in
                guard state.phase != .finished else { return [] }
                let force = state.cancelReason != nil || Task.isCancelled
                guard state.log.makeRoom(for: line.capacity, deliveredThrough: state.droppableThrough, force: force) else {
                    return nil
                }
                state.log.append(&line)
                return Self.takeWaiters(&state)
            }
            if let waiters = appended {
                for waiter in waiters { waiter.resume() }
                return
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLockedValue { state -> Bool in
                        // Delivered or cancelled meanwhile: try again without waiting.
                        let full = !state.log.makeRoom(for: line.capacity, deliveredThrough: state.droppableThrough, force: false)
                        guard full, state.cancelReason == nil, !Task.isCancelled else { return true }
                        state.producer = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                state.withLockedValue { state in
                    let producer = state.producer
                    state.producer = nil
                    return producer
                }?.resume()
            }
        }
    }

    /// Appends the `exit` event and marks the build finished; wakes every reader.
    public func finish(_ exit: BuildExit) {
        post(.exit(exit))
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.phase = .finished
            state.exit = exit
            state.finishedAt = Date()
            state.queuePosition = nil
            state.onCancel = nil
            var waiters = Self.takeWaiters(&state)
            if let producer = state.producer { waiters.append(producer) }
            state.producer = nil
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private static func takeWaiters(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        let waiters = Array(state.waiters.values)
        state.waiters = [:]
        return waiters
    }

    // MARK: Cancellation

    /// Sets what tears the build down (its task's cancel, or taking it off the queue). Runs it
    /// at once if a cancel was asked for already.
    public func setCancelHandler(_ handler: @escaping @Sendable (CancelReason) -> Void) {
        let pending = state.withLockedValue { state -> CancelReason? in
            state.onCancel = handler
            return state.cancelReason
        }
        if let pending { handler(pending) }
    }

    /// Asks for the build to be torn down. False if it had finished (or was being cancelled) already.
    @discardableResult
    public func cancel(_ reason: CancelReason) -> Bool {
        typealias Taken = (handler: (@Sendable (CancelReason) -> Void)?, producer: CheckedContinuation<Void, Never>?)
        let taken = state.withLockedValue { state -> Taken? in
            guard state.phase != .finished, !state.processEnded, state.cancelReason == nil else { return nil }
            state.cancelReason = reason
            defer { state.producer = nil }
            return (state.onCancel, state.producer)
        }
        guard let taken else { return false }
        taken.producer?.resume()
        taken.handler?(reason)
        return true
    }

    public var cancelReason: CancelReason? { state.withLockedValue { $0.cancelReason } }

    /// The producer is parked in `append`, waiting for room (tests step on this).
    var producerIsWaiting: Bool { state.withLockedValue { $0.producer != nil } }

    /// Readers parked in `waitForEvents` (for tests that must wake one, not find it awake).
    var waitingReaders: Int { state.withLockedValue { $0.waiters.count } }

    /// The build's process has ended by itself: from now on it finishes as it is, whatever
    /// is asked (artifacts are being collected, the `exit` is on its way).
    public func markProcessEnded() {
        state.withLockedValue { $0.processEnded = true }
    }

    // MARK: Readers

    /// A reader that has everything through `seq` starts following the build. Until it leaves,
    /// no event it has not handed to its socket is dropped to make room (the build waits).
    /// - Returns: the reader's number, for `delivered` and `detach`.
    public func attach(after seq: Int) -> Int {
        let (reader, producer) = state.withLockedValue { state in
            let before = state.droppableThrough
            state.attachments += 1
            state.positions[state.attachments] = max(0, min(seq, state.log.lastSeq))
            // A client back for the newest events may have more than the last one's writes
            // said: the producer waiting for room looks again.
            guard state.droppableThrough > before else { return (state.attachments, nil as CheckedContinuation<Void, Never>?) }
            let producer = state.producer
            state.producer = nil
            return (state.attachments, producer)
        }
        producer?.resume()
        return reader
    }

    /// What `reader` has handed to its socket, if it is attached.
    public func position(of reader: Int) -> Int? {
        state.withLockedValue { $0.positions[reader] }
    }

    /// A reader stopped following; returns how many are left and how many ever attached. The
    /// build no longer waits for it.
    public func detach(_ reader: Int) -> (remaining: Int, attachments: Int) {
        let (left, producer) = state.withLockedValue { state in
            state.positions.removeValue(forKey: reader)
            let producer = state.producer
            state.producer = nil
            return ((state.positions.count, state.attachments), producer)
        }
        // It may have been the slowest: the producer looks again.
        producer?.resume()
        return left
    }

    public var readers: Int { state.withLockedValue { $0.positions.count } }
    public var attachments: Int { state.withLockedValue { $0.attachments } }

    /// What a reader that has everything through `seq` gets next (see `EventLog.read`), and
    /// whether that includes the build's last event.
    public func read(after seq: Int, maxBytes: Int = 256 * 1024) -> EventBatch {
        state.withLockedValue { state in
            let seq = min(seq, state.log.lastSeq)
            let (missing, lines) = state.log.read(after: seq, maxBytes: maxBytes)
            let through = lines.isEmpty ? max(seq, state.log.firstSeq - 1) : seq + missing + lines.count
            return EventBatch(
                missing: missing,
                droppedBytes: state.log.droppedBytes,
                lines: lines,
                lastSeq: through,
                complete: state.phase == .finished && through >= state.log.lastSeq
            )
        }
    }

    /// `reader` handed everything through `seq` to its socket: once every attached reader has,
    /// those events may be dropped when room is needed, and a producer waiting for room may go on.
    public func delivered(through seq: Int, by reader: Int) {
        let producer = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            guard let position = state.positions[reader], seq > position else { return nil }
            let before = state.droppableThrough
            state.positions[reader] = seq
            state.deliveredThrough = max(state.deliveredThrough, seq)
            guard state.droppableThrough > before else { return nil }
            let producer = state.producer
            state.producer = nil
            return producer
        }
        producer?.resume()
    }

    /// Waits until there is an event after `seq`, the build has finished, `wakeAfter` has
    /// passed, or the task is cancelled.
    public func waitForEvents(after seq: Int, wakeAfter: TimeAmount?) async {
        let id = state.withLockedValue { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let timer = wakeAfter.map { delay in eventLoop.scheduleTask(in: delay) { [self] in wake(id) } }
        defer { timer?.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLockedValue { state -> Bool in
                    if state.log.lastSeq > seq || state.phase == .finished || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            wake(id)
        }
    }

    private func wake(_ waiter: Int) {
        state.withLockedValue { $0.waiters.removeValue(forKey: waiter) }?.resume()
    }

    // MARK: Retention

    /// Once the build has finished: a small log's lines go into one buffer (see `EventLog.compact`).
    /// Done when the build is put away, not as it finishes: the `exit` event goes out first.
    /// Its plan is slimmed for keeping too (see `BuildPlan.keptAfterFinishing`).
    func compactEvents() {
        state.withLockedValue { state in
            guard state.phase == .finished else { return }
            state.log.compact()
            state.plan = state.plan.keptAfterFinishing()
        }
    }

    /// Memory its events take (what `build.retained_event_bytes` counts).
    var eventBytes: Int { state.withLockedValue { $0.log.bytes } }

    /// Whether `releaseEvents` could still free something: more than its last event is held.
    var holdsMoreThanItsExit: Bool { state.withLockedValue { $0.log.heldEvents > 1 } }

    /// Once the build has finished: frees up to `target` bytes of its oldest events, only
    /// those a reader was handed unless `force`; its `exit` stays. Returns the bytes freed.
    func releaseEvents(_ target: Int, force: Bool) -> Int {
        state.withLockedValue { state in
            guard state.phase == .finished else { return 0 }
            return state.log.release(target, deliveredThrough: state.droppableThrough, force: force)
        }
    }

    // MARK: Status

    /// A consistent copy of the build's state.
    public var snapshot: BuildSnapshot {
        state.withLockedValue { state in
            BuildSnapshot(
                phase: state.phase,
                queuePosition: state.queuePosition,
                startedAt: state.startedAt,
                finishedAt: state.finishedAt,
                exit: state.exit,
                cancelReason: state.cancelReason,
                lastSeq: state.log.lastSeq
            )
        }
    }
}
