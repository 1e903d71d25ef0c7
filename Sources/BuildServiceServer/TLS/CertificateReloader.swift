import BuildServiceCore
import BuildServiceTLS
import Foundation
import Logging
import UnixSignals

/// Reloads the HTTPS certificate and key on SIGHUP (`systemctl reload`), and rebuilds the TLS
/// context every 12 hours so that session-ticket keys (random per context) rotate, as Caddy
/// and Go do. A broken new certificate keeps the old one in service and logs why.
struct CertificateReloader: Sendable {
    let config: ServiceConfig
    let holder: TLSContextHolder?
    let logger: Logger

    static let ticketKeyRotation: Duration = .seconds(12 * 3600)

    /// Runs until cancelled.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    reload(reason: "SIGHUP")
                }
            }
            if holder != nil {
                group.addTask {
                    while (try? await Task.sleep(for: Self.ticketKeyRotation)) != nil {
                        reload(reason: "session ticket key rotation")
                    }
                }
            }
            await group.waitForAll()
        }
    }

    func reload(reason: String) {
        guard let holder else {
            logger.notice("nothing to reload: TLS is off", metadata: [LogKey.reason: .string(reason)])
            return
        }
        do {
            let context = try config.makeTLSContext()
            holder.replace(with: context)
            logger.notice("TLS certificate reloaded", metadata: Self.describe(context, reason: reason))
        } catch {
            logger.error(
                "TLS certificate reload failed; still serving the previous certificate",
                metadata: [LogKey.reason: .string(reason), LogKey.error: .string(error.description)]
            )
        }
    }

    static func describe(_ context: TLSContext, reason: String? = nil) -> Logger.Metadata {
        var metadata: Logger.Metadata = [:]
        if let reason { metadata[LogKey.reason] = .string(reason) }
        if let leaf = context.leafCertificate {
            metadata["tls.subject"] = .string(leaf.subject)
            if let notAfter = leaf.notAfter { metadata["tls.not_after"] = .string(ISO8601DateFormatter().string(from: notAfter)) }
        }
        return metadata
    }
}
