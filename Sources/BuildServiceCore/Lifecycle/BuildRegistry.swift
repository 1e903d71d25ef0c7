import BuildServiceConcurrency
public import BuildServiceProtocol
import Foundation
import NIOConcurrencyHelpers
public import NIOCore

/// Every build the daemon knows: admits new ones (starting them, queueing them, or refusing
/// with `queue_full`), starts queued ones as slots free up, finds builds by id or by
/// `request_id`, cancels builds whose clients left and did not come back, and forgets
/// finished builds after `retain_sec`.
///
/// A build runs in a task of its own, not in its client's: the connection only follows its
/// events, so a dropped connection does not end the build.
public final class BuildRegistry: Sendable {
    /// The limits of `[build]` and the projects' `max_concurrent`; replaced on reload.
    public struct Limits: Sendable {
        public var maxConcurrent: Int
        public var maxQueued: Int
        public var eventBufferBytes: Int
        public var retainSec: Int
        public var retainedEventBytes: Int
        public var reattachGraceSec: Int
        /// Finished builds kept, in all and per token (`build.max_retained`, `max_retained_per_token`).
        public var maxRetained: Int
        public var maxRetainedPerToken: Int
        /// Per project id; a project not listed has no limit of its own.
        public var projectLimits: [String: Int]

        public init(config: ServiceConfig) {
            maxConcurrent = config.build.maxConcurrent
            maxQueued = config.build.maxQueued
            eventBufferBytes = config.build.eventBufferBytes
            retainSec = config.build.retainSec
            retainedEventBytes = config.build.retainedEventBytes
            reattachGraceSec = config.build.reattachGraceSec
            maxRetained = config.build.maxRetained
            maxRetainedPerToken = config.build.maxRetainedPerToken
            projectLimits = Dictionary(uniqueKeysWithValues: config.projects.map { ($0.id, $0.concurrencyLimit) })
        }
    }

    private struct Queued {
        let record: BuildRecord
        let origin: RequestOrigin
        var position: Int
    }

    private struct IdempotencyKey: Hashable {
        var tokenDigest: String?
        var key: String
    }

    private struct State {
        var limits: Limits
        var records: [String: BuildRecord] = [:]
        var byIdempotencyKey: [IdempotencyKey: String] = [:]
        /// Finished builds in the order they finished, for expiry. A build forgotten out of
        /// order (over its token's cap) stays here until it reaches the front.
        var finished = CircularBuffer<(id: String, at: ContinuousClock.Instant)>()
        /// Finished builds held, and those of each token in the order they finished.
        var finishedCount = 0
        var finishedByToken: [String: CircularBuffer<String>] = [:]
        /// Memory the events of finished builds take, kept within `retainedEventBytes`.
        var retainedBytes = 0
        /// Finished builds whose events can still be trimmed, oldest first.
        var trimmable = CircularBuffer<String>()
        var queue: [Queued] = []
        var running = 0
        var runningByProject: [String: Int] = [:]
        /// Projects whose tree processes of an earlier run still hold (see `hold`).
        var held: Set<String> = []
        var accepting = true
    }

    private let executor: BuildExecutor
    private let state: NIOLockedValueBox<State>
    public let metrics: BuildMetrics
    /// Build tasks that have not ended yet.
    private let buildTasks = ZeroCountSignal()
    /// Clients following some build's events (see `BuildEventStream`).
    public let attachedReaders = ZeroCountSignal()

    public init(executor: BuildExecutor, limits: Limits, metrics: BuildMetrics = BuildMetrics()) {
        self.executor = executor
        self.metrics = metrics
        self.state = NIOLockedValueBox(State(limits: limits))
    }

    /// New limits (config reload). Running builds are untouched; queued ones may start; a
    /// lower `retained_event_bytes`, `max_retained` or `max_retained_per_token` applies to
    /// finished builds at once.
    public func update(_ limits: Limits) {
        let (start, freed) = state.withLockedValue { state in
            state.limits = limits
            let forgotten = enforceRetentionCaps(&state, tokens: Array(state.finishedByToken.keys))
            return (takeStartable(&state), forgotten + trimRetained(&state))
        }
        for (record, origin) in start { run(record, origin: origin, afterQueue: true) }
        Self.returnMemory(ifFreed: freed)
    }

    /// No build of `project` starts until `release`: processes an earlier run left in its tree
    /// could not be ended yet. Its builds queue meanwhile.
    public func hold(_ project: String) {
        state.withLockedValue { _ = $0.held.insert(project) }
    }

    public func release(_ project: String) {
        let start = state.withLockedValue { state in
            state.held.remove(project)
            return takeStartable(&state)
        }
        for (record, origin) in start { run(record, origin: origin, afterQueue: true) }
    }

    /// Admits a build: starts it if a slot is free, else queues it. An idempotency key the same
    /// token used for a build still held gives that build instead of a new one.
    /// - Returns: the build, and whether it is a new one.
    /// - Throws: `queue_full` when the queue is full, `shutdown` while the daemon stops.
    public func submit(
        _ plan: BuildPlan,
        origin: RequestOrigin,
        owner: BuildOwner,
        eventLoop: any EventLoop
    ) throws(ServiceError) -> (record: BuildRecord, isNew: Bool) {
        let now = ContinuousClock.now
        // Hashed before the lock: up to `max_args_bytes` of arguments.
        var plan = plan
        if plan.idempotencyKey != nil { plan.identity = RequestIdentity(plan) }
        typealias Admitted = (record: BuildRecord, startsNow: Bool, isNew: Bool)
        let admission = state.withLockedValue { state -> Result<Admitted, ServiceError> in
            expire(&state, now: now)
            let key = plan.idempotencyKey.map { IdempotencyKey(tokenDigest: owner.tokenDigest, key: $0) }
            if let key, let id = state.byIdempotencyKey[key], let record = state.records[id] {
                return .success((record, false, false))
            }
            guard state.accepting else { return .failure(ServiceError(.shutdown, "the build service is shutting down")) }
            let startsNow = hasSlot(for: plan.projectID, in: state)
            guard startsNow || state.queue.count < state.limits.maxQueued else {
                return .failure(ServiceError(.queueFull, "\(state.queue.count) builds are already waiting (build.max_queued); try again later"))
            }
            let record = BuildRecord(
                id: BuildID.make(),
                plan: plan,
                owner: owner,
                eventBufferBytes: state.limits.eventBufferBytes,
                eventLoop: eventLoop,
                receivedAt: origin.receivedAt
            )
            state.records[record.id] = record
            if let key { state.byIdempotencyKey[key] = record.id }
            for warning in plan.warnings { record.post(warning) }
            if startsNow {
                occupySlot(for: plan.projectID, in: &state)
            } else {
                state.queue.append(Queued(record: record, origin: origin, position: state.queue.count + 1))
                record.post(.build(id: record.id, status: "queued", position: state.queue.count))
                // Set before anyone else can see the record (so before a finishing build could
                // start it and set its own); nothing can have asked to cancel it yet.
                record.setCancelHandler { [weak self] reason in self?.dequeue(record, reason: reason) }
            }
            return .success((record, startsNow, true))
        }
        let (record, startsNow, isNew) = try admission.get()
        if isNew { record.stages.mark(.admitted) }
        guard isNew else {
            try Self.checkSameRequest(record.plan, plan)
            return (record, false)
        }
        if startsNow { run(record, origin: origin, afterQueue: false) }
        metrics.submitted(project: plan.projectID)
        return (record, true)
    }

    /// An idempotency key used again must come with the same request: anything else is a
    /// client bug that must not silently get some other build's result.
    private static func checkSameRequest(_ earlier: BuildPlan, _ now: BuildPlan) throws(ServiceError) {
        guard earlier.identity == now.identity else {
            throw ServiceError(
                .idempotencyKeyConflict,
                "idempotency key \"\(now.idempotencyKey ?? "")\" was used for a different build request within build.retain_sec;"
                    + " use a new key for a new build"
            )
        }
    }

    /// The build with this id, if it is still held.
    public func record(id: String) -> BuildRecord? {
        let now = ContinuousClock.now
        return state.withLockedValue { state in
            expire(&state, now: now)
            return state.records[id]
        }
    }

    /// Builds still held, in no particular order (at most `max_retained` finished ones, and
    /// those running and queued).
    public func list() -> [BuildRecord] {
        let now = ContinuousClock.now
        return state.withLockedValue { state in
            expire(&state, now: now)
            return Array(state.records.values)
        }
    }

    /// How many builds run and how many wait.
    public var load: (running: Int, queued: Int) {
        state.withLockedValue { ($0.running, $0.queue.count) }
    }

    /// Memory the events of finished builds take, small ones aside (see `build.retained_event_bytes`).
    public var retainedEventBytes: Int {
        state.withLockedValue { $0.retainedBytes }
    }

    /// A reader of `record` (its number from `attach`) went away. Once nobody follows an
    /// unfinished build, it is cancelled, at once or, when its client can come back (see
    /// `BuildPlan.resumable`), unless somebody re-attaches within `build.reattach_grace_sec`.
    public func readerLeft(_ record: BuildRecord, reader: Int) {
        let (remaining, attachments) = record.detach(reader)
        guard remaining == 0 else { return }
        guard record.snapshot.phase != .finished else {
            // It held back the trimming of the finished builds' events (see `trimRetained`).
            Self.returnMemory(ifFreed: state.withLockedValue { trimRetained(&$0) })
            return
        }
        // Only a client that sent an idempotency key can come back for its build (and never
        // one on the legacy framing, which has no way back): any other leaves like Ctrl-C.
        let grace = record.plan.resumable ? state.withLockedValue { $0.limits.reattachGraceSec } : 0
        guard grace > 0 else {
            record.cancel(.abandoned)
            return
        }
        // The grace counts from the last reader's departure: a reader that came and went
        // meanwhile started a new one.
        record.eventLoop.scheduleTask(in: .seconds(saturating: grace)) {
            if record.readers == 0, record.attachments == attachments { record.cancel(.abandoned) }
        }
    }

    /// Forgets finished builds older than `retain_sec` (also done on every submission).
    public func expire() {
        let now = ContinuousClock.now
        state.withLockedValue { expire(&$0, now: now) }
    }

    /// Stops admitting builds, cancels queued ones, lets running ones go on for `grace`, then
    /// cancels them too; returns once every build's task has ended.
    public func shutdown(grace: Duration) async {
        let queued = state.withLockedValue { state in
            state.accepting = false
            return state.queue.map(\.record)
        }
        for record in queued { record.cancel(.shutdown) }
        await buildTasks.waitForZero(within: grace)
        let running = state.withLockedValue { Array($0.records.values) }
        for record in running { record.cancel(.shutdown) }
        await buildTasks.waitForZero()
    }

    // MARK: Slots

    private func hasSlot(for project: String, in state: State) -> Bool {
        state.running < state.limits.maxConcurrent && !state.held.contains(project)
            && state.runningByProject[project, default: 0] < state.limits.projectLimits[project, default: .max]
    }

    private func occupySlot(for project: String, in state: inout State) {
        state.running += 1
        state.runningByProject[project, default: 0] += 1
    }

    /// Takes the queued builds that can start now off the queue, in order (one blocked by its
    /// project's limit does not hold back others), and tells the rest their new positions.
    private func takeStartable(_ state: inout State) -> [(BuildRecord, RequestOrigin)] {
        var start: [(BuildRecord, RequestOrigin)] = []
        var waiting: [Queued] = []
        for queued in state.queue {
            if state.accepting, hasSlot(for: queued.record.plan.projectID, in: state) {
                occupySlot(for: queued.record.plan.projectID, in: &state)
                start.append((queued.record, queued.origin))
            } else {
                waiting.append(queued)
            }
        }
        state.queue = renumbered(waiting)
        return start
    }

    /// Posts a new `queued` event to every build whose position changed.
    private func renumbered(_ queue: [Queued]) -> [Queued] {
        queue.enumerated().map { index, queued in
            var queued = queued
            if queued.position != index + 1 {
                queued.position = index + 1
                queued.record.post(.build(id: queued.record.id, status: "queued", position: queued.position))
            }
            return queued
        }
    }

    /// - Parameter afterQueue: the build waited in the queue, so its paths are resolved again
    ///   against the tree as it is now (a build that ran meanwhile may have changed it).
    private func run(_ record: BuildRecord, origin: RequestOrigin, afterQueue: Bool) {
        // Everything of the build, its process included, happens in its own task: never in the
        // call stack of whoever admitted it (a connection's channelRead, another build's end).
        buildTasks.increment()
        let task = Task(executorPreference: EventLoopTaskExecutor(record.eventLoop)) { [self] in
            defer { buildTasks.decrement() }
            if record.cancelReason == nil { metrics.started(project: record.plan.projectID) }
            // Returns once nothing of the build is left: the slot is free only then, for path
            // projects' next build shares its tree.
            await executor.execute(record, origin: origin, revalidatingPaths: afterQueue)
            metrics.finished(record)
            ended(record)
        }
        record.setCancelHandler { _ in task.cancel() }
    }

    private func ended(_ record: BuildRecord) {
        let now = ContinuousClock.now
        // Outside the registry's lock: up to 64 KiB copied, while submissions would wait.
        record.compactEvents()
        let (start, freed) = state.withLockedValue { state in
            state.running -= 1
            state.runningByProject[record.plan.projectID, default: 1] -= 1
            let freed = retain(record, at: now, in: &state)
            return (takeStartable(&state), freed)
        }
        for (next, origin) in start { run(next, origin: origin, afterQueue: true) }
        Self.returnMemory(ifFreed: freed)
    }

    /// A queued build was cancelled: off the queue, and finished as cancelled.
    private func dequeue(_ record: BuildRecord, reason: CancelReason) {
        let now = ContinuousClock.now
        let removed = state.withLockedValue { state -> Bool in
            guard let index = state.queue.firstIndex(where: { $0.record === record }) else { return false }
            state.queue.remove(at: index)
            state.queue = renumbered(state.queue)
            return true
        }
        guard removed else { return }
        BuildExecutor.finishCancelled(record, reason: reason)
        metrics.finished(record)
        record.compactEvents()
        Self.returnMemory(ifFreed: state.withLockedValue { retain(record, at: now, in: &$0) })
    }

    // MARK: Retention

    /// A build finished (and its events compacted, see `BuildRecord.compactEvents`): kept for
    /// `retain_sec`, its events counted against `retained_event_bytes`. Returns the bytes of
    /// events dropped to stay within it.
    private func retain(_ record: BuildRecord, at now: ContinuousClock.Instant, in state: inout State) -> Int {
        state.finished.append((record.id, now))
        state.finishedCount += 1
        if let token = record.owner.tokenDigest { state.finishedByToken[token, default: []].append(record.id) }
        // Only this build's token can have gone over its cap.
        var freed = enforceRetentionCaps(&state, tokens: record.owner.tokenDigest.map { [$0] } ?? [])
        let bytes = record.eventBytes
        if bytes > 0 {
            state.retainedBytes += bytes
            state.trimmable.append(record.id)
            freed += trimRetained(&state)
        }
        // Entries of builds forgotten out of order: dropped once they are most of the lists.
        if state.finished.count > 2 * state.finishedCount + 1024 {
            state.finished = CircularBuffer(state.finished.filter { state.records[$0.id] != nil })
            state.trimmable = CircularBuffer(state.trimmable.filter { state.records[$0] != nil })
        }
        return freed
    }

    /// Forgets the oldest finished builds past `max_retained_per_token` (of each of `tokens`)
    /// and `max_retained` (all). Returns the bytes of events released.
    private func enforceRetentionCaps(_ state: inout State, tokens: [String]) -> Int {
        var freed = 0
        for token in tokens {
            while let count = state.finishedByToken[token]?.count, count > state.limits.maxRetainedPerToken,
                let oldest = state.finishedByToken[token]?.removeFirst()
            {
                freed += forget(oldest, in: &state)
            }
        }
        while state.finishedCount > state.limits.maxRetained, let oldest = state.finished.first {
            state.finished.removeFirst()
            freed += forget(oldest.id, in: &state)
        }
        return freed
    }

    /// Forgets a finished build (expired, or over a cap): status, events, idempotency key.
    /// Its artifacts are the store's and stay. Returns the bytes of events released.
    @discardableResult
    private func forget(_ id: String, in state: inout State) -> Int {
        guard let record = state.records.removeValue(forKey: id) else { return 0 }
        state.finishedCount -= 1
        let bytes = record.eventBytes
        state.retainedBytes -= bytes
        if let key = record.plan.idempotencyKey {
            state.byIdempotencyKey.removeValue(forKey: IdempotencyKey(tokenDigest: record.owner.tokenDigest, key: key))
        }
        if let token = record.owner.tokenDigest {
            // Builds go in the order they finished, so this one is its token's oldest (unless
            // the caps took it off the token's list already).
            if state.finishedByToken[token]?.first == id { state.finishedByToken[token]!.removeFirst() }
            if state.finishedByToken[token]?.isEmpty == true { state.finishedByToken[token] = nil }
        }
        return bytes
    }

    /// Drops events of the oldest finished builds until those of all finished builds fit in
    /// `retained_event_bytes`: first events some reader was handed, then, if that is not
    /// enough, also events nobody read (a client that comes back for them is told how many
    /// are gone), but never while a reader is still streaming them. Every build keeps its `exit`.
    private func trimRetained(_ state: inout State) -> Int {
        let limit = state.limits.retainedEventBytes
        var freed = 0
        for force in [false, true] where state.retainedBytes > limit {
            // Rebuilt from the oldest: the builds that can still give something back. A build
            // down to its exit leaves the list (a finish over the limit would otherwise walk
            // them all under the lock); once under the limit the rest is kept as it is.
            var kept = CircularBuffer<String>(initialCapacity: state.trimmable.count)
            var index = state.trimmable.startIndex
            while index != state.trimmable.endIndex, state.retainedBytes > limit {
                let id = state.trimmable[index]
                index = state.trimmable.index(after: index)
                guard let record = state.records[id] else { continue }  // expired
                if !(force && record.readers > 0) {
                    let released = record.releaseEvents(state.retainedBytes - limit, force: force)
                    state.retainedBytes -= released
                    freed += released
                }
                if record.holdsMoreThanItsExit { kept.append(id) }
            }
            kept.append(contentsOf: state.trimmable[index...])
            state.trimmable = kept
        }
        return freed
    }

    /// Large event buffers were freed: their pages go back to the system now, not at the next
    /// periodic trim; off the lock and off the event loop (a trim walks the heap).
    private static func returnMemory(ifFreed bytes: Int) {
        guard bytes >= 1024 * 1024 else { return }
        MemoryTrim.releaseFreeMemorySoon()
    }

    private func expire(_ state: inout State, now: ContinuousClock.Instant) {
        let retain = Duration.seconds(state.limits.retainSec)
        while let oldest = state.finished.first, now - oldest.at >= retain {
            state.finished.removeFirst()
            forget(oldest.id, in: &state)
        }
        // Both lists are in the order builds finished: the expired are at the front.
        while let id = state.trimmable.first, state.records[id] == nil { state.trimmable.removeFirst() }
    }
}
