import BuildClient
import BuildServiceProtocol
import Foundation
import Testing

/// The client library (what build-cli is made of) used directly, as another program would.
@Suite(.serialized)
struct ClientLibraryTests {
    /// A request that asks for no heartbeats still gets them often enough for the client's
    /// stall timeout: a build that prints nothing for longer than that is followed to its end.
    /// Taken for a dead connection instead, it would be cut, and on a daemon that does not wait
    /// for re-attaches (`reattach_grace_sec = 0`, this daemon's setting) cancelled.
    /// The package puts the socket in /run/build-service/ (a directory containers mount); the
    /// original's clients and daemons use /run/build-service.sock.
    @Test func theDefaultSocketIsThePackagesWhenItsDirectoryExistsElseTheOriginals() {
        #expect(Endpoint.defaultSocket { $0 == "/run/build-service" } == .unixSocket(path: "/run/build-service/build.sock"))
        #expect(Endpoint.defaultSocket { _ in false } == .unixSocket(path: "/run/build-service.sock"))
        #expect(Endpoint.defaultSocket { $0 == "/run/build-service.sock" } == .unixSocket(path: "/run/build-service.sock"))
    }

    @Test func aQuietBuildOutlastsTheStallTimeoutWithoutAskingForHeartbeats() async throws {
        let daemon = try await DaemonUnderTest()
        var client = BuildServiceClient(endpoint: .http(host: "127.0.0.1", port: daemon.port, basePath: "", tls: false), token: nil)
        client.stallTimeout = .seconds(3)
        let request = BuildRequest(projectID: "demo", command: "sh", args: ["-c", "sleep 8; echo done"])
        var output: [UInt8] = []
        let exit = try await client.run(request) { _, bytes in
            output += bytes
        } onEvent: { _ in
        }
        #expect(exit.code == 0)
        #expect(String(decoding: output, as: UTF8.self) == "done\n")
        await daemon.stop()
    }
}
