import BuildServiceTLS
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded

/// Bytes from the network into the TLS handler over real OpenSSL, on embedded channels. The
/// input's first byte picks the side (the daemon's server or build-cli's client), whether a
/// real handshake with a paired peer comes first (so that records after it are reached too),
/// and how the rest is split into reads. Any error is fine; a crash or a hang is not.
package enum TLSFuzzing {
    package struct Contexts: Sendable {
        let server: TLSContext
        let client: TLSContext

        init(certificateDirectory directory: String) throws {
            server = try TLSContext(
                server: TLSServerConfiguration(certificatePath: directory + "/server.pem", privateKeyPath: directory + "/server.key")
            )
            client = try TLSContext(client: TLSClientConfiguration(trustedCAPath: directory + "/ca.pem"))
        }
    }

    static func run(_ input: [UInt8], contexts: Contexts) -> String? {
        guard let first = input.first else { return nil }
        let asServer = first & 1 == 0
        let afterHandshake = first & 2 != 0
        let readSize = Int(first >> 2) * 16 + 1
        let target = EmbeddedChannel()
        let peer = EmbeddedChannel()
        defer {
            _ = try? target.finish(acceptAlreadyClosed: true)
            _ = try? peer.finish(acceptAlreadyClosed: true)
        }
        let (targetContext, peerContext) = asServer ? (contexts.server, contexts.client) : (contexts.client, contexts.server)
        let hostname: (TLSContext) -> String? = { $0 === contexts.client ? "localhost" : nil }
        let targetHandler = TLSHandler(context: targetContext, serverHostname: hostname(targetContext))
        do {
            try target.pipeline.syncOperations.addHandler(targetHandler)
            try peer.pipeline.syncOperations.addHandler(TLSHandler(context: peerContext, serverHostname: hostname(peerContext)))
            try target.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
            try peer.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        } catch {
            return "the embedded channels could not be set up: \(error)"
        }
        if afterHandshake {
            pump(between: target, and: peer)
            // Otherwise "after the handshake" would silently fuzz the handshake again. (An
            // embedded loop runs a completed future's callbacks at once.)
            let handshook = NIOLockedValueBox(false)
            targetHandler.handshakeFuture?.whenSuccess { handshook.withLockedValue { $0 = true } }
            guard handshook.withLockedValue({ $0 }) else { return "the real handshake before the input did not complete" }
        }
        let bytes = input.dropFirst()
        for start in stride(from: bytes.startIndex, to: bytes.endIndex, by: readSize) where target.isActive {
            _ = try? target.writeInbound(ByteBuffer(bytes: bytes[start..<min(start + readSize, bytes.endIndex)]))
            while (try? target.readOutbound(as: ByteBuffer.self)) != nil {}
            while (try? target.readInbound(as: ByteBuffer.self)) != nil {}
        }
        return nil
    }

    /// Moves ciphertext both ways until neither side has more to say (a real handshake).
    private static func pump(between one: EmbeddedChannel, and other: EmbeddedChannel) {
        var moved = true
        while moved {
            moved = false
            for (from, to) in [(one, other), (other, one)] {
                while let bytes = try? from.readOutbound(as: ByteBuffer.self) {
                    moved = true
                    if bytes.readableBytes > 0, to.isActive { _ = try? to.writeInbound(bytes) }
                }
            }
        }
    }
}
