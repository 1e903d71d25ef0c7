import BuildServiceTLS
import NIOConcurrencyHelpers

/// The HTTPS listener's current TLS context. New connections take whatever is current; a
/// reload swaps in a new context without touching live connections (each keeps the one it
/// started with).
final class TLSContextHolder: Sendable {
    private let box: NIOLockedValueBox<TLSContext>

    init(_ context: TLSContext) {
        box = NIOLockedValueBox(context)
    }

    var current: TLSContext {
        box.withLockedValue { $0 }
    }

    func replace(with context: TLSContext) {
        box.withLockedValue { $0 = context }
    }
}
