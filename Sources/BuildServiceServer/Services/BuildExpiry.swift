import BuildServiceCore
import ServiceLifecycle

/// Forgets finished builds after `build.retain_sec`, also while no requests come in, and then
/// hands memory freed since back to the system: glibc keeps the peak of a burst of builds (a
/// thousand clients at once) in its arenas otherwise, for the daemon's lifetime.
struct BuildExpiry: Service {
    let registry: BuildRegistry
    var interval: Duration = .seconds(30)

    func run() async {
        await cancelWhenGracefulShutdown {
            while (try? await Task.sleep(for: interval)) != nil {
                registry.expire()
                MemoryTrim.releaseFreeMemory()
            }
        }
    }
}
