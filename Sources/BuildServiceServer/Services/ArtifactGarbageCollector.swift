import BuildServiceCore
import Logging
import NIOPosix
import ServiceLifecycle

/// Applies `artifacts.ttl_sec` and `max_bytes` at startup and every `gc_interval_sec`.
/// First, off the startup path, adopts the sets that have no manifest (the original
/// build-service's store; see `ArtifactStore.adoptUnmanifested`), so retention sees them too,
/// and fills in their digests after the first pass (expired ones are not read).
///
/// A pass runs on the thread pool and is not interrupted: graceful shutdown waits for it.
struct ArtifactGarbageCollector: Service {
    let quota: ArtifactQuota
    var store: ArtifactStore { quota.store }
    let settings: ArtifactSettings
    let logger: Logger

    func run() async {
        await cancelWhenGracefulShutdown { await collect() }
    }

    private func collect() async {
        let (store, quota, settings) = (self.store, self.quota, self.settings)
        var needDigests = (try? await NIOThreadPool.singleton.runIfActive { store.adoptUnmanifested() }) ?? []
        if !needDigests.isEmpty {
            logger.notice(
                "adopted artifact sets that have no manifest (the original build-service's or a crash's); digests follow",
                metadata: ["count": .stringConvertible(needDigests.count)]
            )
        }
        repeat {
            let removed =
                (try? await NIOThreadPool.singleton.runIfActive {
                    quota.collectGarbage(ttlSec: settings.ttlSec)
                }) ?? []
            if !removed.isEmpty {
                logger.info("removed expired artifacts", metadata: ["builds": .array(removed.map { .string($0) })])
            }
            if !needDigests.isEmpty {
                let pending = needDigests
                _ = try? await NIOThreadPool.singleton.runIfActive { store.fillInDigests(of: pending) }
                logger.info("digests of adopted artifact sets computed", metadata: ["count": .stringConvertible(pending.count)])
                needDigests = []
            }
        } while (try? await Task.sleep(for: .seconds(settings.gcIntervalSec))) != nil
    }
}
