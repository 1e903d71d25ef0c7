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

    public init(store: ArtifactStore, maxBytes: Int, logger: Logger = Logger(label: "build-service.artifacts")) {
        self.store = store
        self.maxBytes = maxBytes
        self.logger = logger
    }

    /// Bytes of published sets and of sets being staged.
    public var usage: (published: Int, staged: Int) {
        state.withLockedValue { ($0.published, $0.staged) }
    }

    /// Reserves `bytes` of staging, removing the oldest published sets if that makes room.
    /// - Returns: the ids removed to make room, or nil when there is no room (nothing reserved).
    func reserve(_ bytes: Int) -> [String]? {
        let (removed, nowNearFull) = state.withLockedValue { state -> ([String]?, Bool) in
            load(&state)
            var removed: [String] = []
            while state.published + state.staged + bytes > maxBytes, !state.sets.isEmpty {
                let oldest = state.sets.removeFirst()
                state.published -= oldest.bytes
                store.remove(oldest.id)
                removed.append(oldest.id)
            }
            guard state.published + state.staged + bytes <= maxBytes else { return (nil, false) }
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
        return removed
    }

    /// Whether the store just got past `nearFullShare` (once per crossing).
    private func becameNearFull(_ state: inout State) -> Bool {
        let near = Double(state.published + state.staged) > Self.nearFullShare * Double(maxBytes)
        defer { state.nearFull = near }
        return near && !state.nearFull
    }

    /// Gives back staging bytes (a set that failed, or one smaller than reserved).
    func release(_ bytes: Int) {
        state.withLockedValue { $0.staged -= bytes }
    }

    /// A set was published: its staging reservation becomes a published set.
    func published(_ manifest: ArtifactManifest, reserved: Int) {
        let bytes = manifest.artifacts.reduce(0) { $0 + $1.size }
        state.withLockedValue { state in
            state.staged -= reserved
            state.sets.append(PublishedSet(id: manifest.buildID, created: manifest.created, bytes: bytes))
            state.published += bytes
        }
    }

    /// The periodic pass: re-reads the store, then removes the sets older than `ttlSec` and
    /// the oldest ones until the store holds at most `max_bytes` with what is being staged.
    /// - Returns: the ids removed.
    @discardableResult
    public func collectGarbage(ttlSec: Int, now: Date = Date()) -> [String] {
        state.withLockedValue { state in
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
    }

    private func load(_ state: inout State) {
        guard !state.loaded else { return }
        state.sets = store.publishedSets().map { PublishedSet(id: $0.id, created: $0.created, bytes: $0.bytes) }
        state.published = state.sets.reduce(0) { $0 + $1.bytes }
        state.loaded = true
    }
}
