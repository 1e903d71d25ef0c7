import Foundation
import NIOConcurrencyHelpers

/// glibc's `malloc_trim(0)`: returns free heap pages to the system. glibc keeps what a burst of
/// builds needed in its per-thread arenas otherwise, for as long as the daemon runs. Looked up
/// at run time because the Swift Glibc module does not export it.
public enum MemoryTrim {
    private typealias Trim = @convention(c) (Int) -> Int32

    private static let trim: Trim? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: Trim.self)
    }()

    public static func releaseFreeMemory() {
        _ = trim?(0)
    }

    /// A trim not started yet: later requests join it instead of queueing trims of their own
    /// (each one walks every arena, under their locks).
    private static let pending = NIOLockedValueBox(false)

    /// `releaseFreeMemory` soon, on a task of its own (not on the caller's thread). Requests
    /// made before it starts are served by the same trim.
    public static func releaseFreeMemorySoon() {
        let alreadyPending = pending.withLockedValue { pending in
            defer { pending = true }
            return pending
        }
        guard !alreadyPending else { return }
        Task.detached {
            pending.withLockedValue { $0 = false }
            releaseFreeMemory()
        }
    }
}
