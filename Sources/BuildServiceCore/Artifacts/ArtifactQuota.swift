public import Foundation
public import Logging
import NIOConcurrencyHelpers

/// Keeps the artifact store within `artifacts.max_bytes` at every moment, not only at the
/// periodic collection: bytes being staged are reserved before they are written, published
/// sets are counted, and a reservation that does not fit removes the oldest published sets
/// first; when even that cannot make room (other builds' staging holds it), the build's set is
/// refused with `artifact_store_full`. Sizes are the artifacts' lengths (a sparse file counts
/// whole, though its holes take no disk), as in the manifests and the periodic collection.
///
/// One lock orders reservations, publications and the periodic pass (`collectGarbage`), which
/// also re-reads the store: a set adopted or removed behind its back is counted from then on.
/// Sets are deleted under it (all of this runs on the thread pool), so the disk never holds
/// more than what is counted; the figures `/metrics` reads have a lock of their own: a scrape
/// on an event loop never waits for the file system.
public final class ArtifactQuota: Sendable {
    public let store: ArtifactStore
    public let maxBytes: Int
    private let logger: Logger
    /// Above this share of `maxBytes` the store is "near full": logged once each time it gets there.
    static let nearFullShare = 0.9

    private struct PublishedSet {
        let id: String
        let created: Double
        let bytes: Int
    }

    private struct State {
        /// Oldest first.
        var sets: [PublishedSet] = []
        var published = 0
        var staged = 0
        var loaded = false
        var nearFull = false
    }
    private let state = NIOLockedValueBox(State())
    /// `published` and `staged` as of the last change (taken inside `state`'s lock, never the
    /// other way round).
    private let figures = NIOLockedValueBox((published: 0, staged: 0))

    public init(store: ArtifactStore, maxBytes: Int, logger: Logger = Logger(label: "build-service.artifacts")) {
        self.store = store
        self.maxBytes = maxBytes
        self.logger = logger
    }

    /// Bytes of published sets and of sets being staged.
    public var usage: (published: Int, staged: Int) {
        figures.withLockedValue { $0 }
    }

    /// Changes the state and publishes its figures.
    private func change<Result>(_ body: (inout State) -> Result) -> Result {
        state.withLockedValue { state in
            let result = body(&state)
            figures.withLockedValue { $0 = (state.published, state.staged) }
            return result
        }
    }

    /// Reserves `bytes` of staging, removing the oldest published sets if that makes room.
    /// Nothing is removed when even that would not (other sets being staged hold the room).
    /// - Returns: whether the room is reserved.
    func reserve(_ bytes: Int) -> Bool {
        let (removed, nowNearFull) = change { state -> ([String]?, Bool) in
            load(&state)
            guard state.staged + bytes <= maxBytes else { return (nil, false) }
            var removed: [String] = []
            while state.published + state.staged + bytes > maxBytes, !state.sets.isEmpty {
                let oldest = state.sets.removeFirst()
                state.published -= oldest.bytes
                store.remove(oldest.id)
                removed.append(oldest.id)
            }
            state.staged += bytes
            return (removed, becameNearFull(&state))
        }
        if let removed, !removed.isEmpty {
            logger.notice(
                "removed the oldest artifact sets to make room (artifacts.max_bytes)",
                metadata: ["builds": .array(removed.map { .string($0) }), "max_bytes": .stringConvertible(maxBytes)]
            )
        }
        if nowNearFull {
            logger.warning(
                "the artifact store is near full: older sets will be removed to make room for new ones",
                metadata: ["max_bytes": .stringConvertible(maxBytes)]
            )
        }
        return removed != nil
    }

    /// Whether the store just got past `nearFullShare` (once per crossing).
    private func becameNearFull(_ state: inout State) -> Bool {
        let near = Double(state.published + state.staged) > Self.nearFullShare * Double(maxBytes)
        defer { state.nearFull = near }
        return near && !state.nearFull
    }

    /// Gives back staging bytes (a set that failed, or one smaller than reserved).
    func release(_ bytes: Int) {
        change { $0.staged -= bytes }
    }

    /// A set was published: its staging reservation becomes a published set.
    func published(_ manifest: ArtifactManifest, reserved: Int) {
        let bytes = manifest.artifacts.reduce(0) { $0 + $1.size }
        change { state in
            state.staged -= reserved
            // A pass that re-read the store since the set's manifest was written has it already.
            guard !state.sets.contains(where: { $0.id == manifest.buildID }) else { return }
            state.sets.append(PublishedSet(id: manifest.buildID, created: manifest.created, bytes: bytes))
            state.published += bytes
        }
    }

    /// The periodic pass: re-reads the store, then removes the sets older than `ttlSec` and
    /// the oldest ones until the store holds at most `max_bytes` with what is being staged.
    /// - Returns: the ids removed.
    @discardableResult
    public func collectGarbage(ttlSec: Int, now: Date = Date()) -> [String] {
        let removed = change { state in
            state.loaded = false
            load(&state)
            let cutoff = now.timeIntervalSince1970 - Double(ttlSec)
            var removed: [String] = []
            while let oldest = state.sets.first, oldest.created < cutoff || state.published + state.staged > maxBytes {
                state.sets.removeFirst()
                state.published -= oldest.bytes
                store.remove(oldest.id)
                removed.append(oldest.id)
            }
            return removed
        }
        return removed
    }

    private func load(_ state: inout State) {
        guard !state.loaded else { return }
        state.sets = store.publishedSets().map { PublishedSet(id: $0.id, created: $0.created, bytes: $0.bytes) }
        state.published = state.sets.reduce(0) { $0 + $1.bytes }
        state.loaded = true
    }
}
