public import BuildServiceProtocol
import FoundationEssentials
import Glibc
import NIOCore
import NIOPosix

/// The original build-service's framing on its Unix socket: one JSON line as the request, the
/// events as NDJSON lines, the end of the connection after `exit`. The original daemon speaks
/// nothing else there, so build-cli uses it when asked (`--legacy`) or when the socket answers
/// an HTTP request with a JSON line instead of HTTP (the original's parse error).
extension BuildServiceClient {
    /// Runs the build over the one-line framing (no re-attach: that framing has none).
    /// - Throws: `ClientError`; a refusal arrives as an `error` event and a non-zero `exit`,
    ///   as the original sends it, and is delivered like any event.
    public func runLegacy(
        _ request: BuildRequest,
        onOutput: (OutputPipe, [UInt8]) throws -> Void,
        onEvent: (BuildEvent) throws -> Void
    ) async throws(ClientError) -> BuildExit {
        guard case .unixSocket(let path) = endpoint else {
            throw ClientError.usage("the legacy one-line framing is spoken on a Unix socket only; drop --legacy for \(endpoint)")
        }
        // Only the original's fields: its token in the body, nothing it would not know.
        var request = request
        request.authToken = request.authToken ?? token
        request.idempotencyKey = nil
        request.heartbeatSec = nil
        var line: ByteBuffer
        do {
            line = ByteBuffer(bytes: try JSONEncoder().encode(request))
        } catch {
            throw ClientError.usage("cannot encode the request: \(error)")
        }
        line.writeString("\n")
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: Self.eventLoops)
                .connectTimeout(.seconds(10))
                .connect(unixDomainSocketPath: path) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel(wrappingChannelSynchronously: channel) }
                }
        } catch {
            throw ClientError.unreachable("cannot connect to the build service at \(endpoint): \(Self.describe(error))")
        }
        var progress = StreamProgress()
        do {
            return try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(line)
                var splitter = LineSplitter()
                for try await var chunk in inbound {
                    for line in try splitter.append(&chunk) {
                        if let exit = try deliver(line, progress: &progress, onOutput: onOutput, onEvent: onEvent) { return exit }
                    }
                }
                if let last = splitter.remainder, let exit = try deliver(last, progress: &progress, onOutput: onOutput, onEvent: onEvent) {
                    return exit
                }
                throw ClientError.unreachable("the connection to the build service at \(endpoint) ended before the build finished")
            }
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError.unreachable("the connection to the build service at \(endpoint) broke: \(Self.describe(error))")
        }
    }
}
