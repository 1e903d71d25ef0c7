import Foundation
public import Logging
import NIOConcurrencyHelpers

/// Audit lines for refused requests (401, 403, policy refusals), at most `perSecond` a second:
/// a client flooding refusals cannot rotate the audit trail away. What was left out is counted
/// and reported with the next line that is written.
public final class RefusalLog: Sendable {
    private let logger: Logger
    private let perSecond: Int
    private struct Window {
        var second: Int64 = 0
        var written = 0
        var suppressed = 0
    }
    private let window = NIOLockedValueBox(Window())

    public init(logger: Logger, perSecond: Int = 20) {
        self.logger = logger
        self.perSecond = perSecond
    }

    /// Logs one refusal (never a token: only the code and the message the client got). The
    /// message and peer are made only for a line that is written: a flood of refusals does
    /// not pay for text nobody reads.
    public func refused(
        code: String,
        message: @autoclosure () -> String,
        peer: @autoclosure () -> String,
        listener: String,
        tokenName: String? = nil
    ) {
        let second = Int64(time(nil))
        let suppressed: Int? = window.withLockedValue { window in
            if window.second != second {
                window.second = second
                window.written = 0
            }
            guard window.written < perSecond else {
                window.suppressed += 1
                return nil
            }
            window.written += 1
            defer { window.suppressed = 0 }
            return window.suppressed
        }
        guard let suppressed else { return }
        var metadata: Logger.Metadata = [
            LogKey.code: .string(code), LogKey.reason: .string(AuditText.shortened(message(), limit: 512)),
            LogKey.peer: .string(peer()), LogKey.listener: .string(listener),
        ]
        if let tokenName { metadata[LogKey.tokenName] = .string(tokenName) }
        if suppressed > 0 { metadata[LogKey.suppressed] = .stringConvertible(suppressed) }
        logger.notice("request refused", metadata: metadata)
    }
}
