import Foundation
import Hummingbird
import Logging

// `/healthz` as build-service answers it: a small JSON document with the version and uptime,
// built per request. Usage: HummingbirdProbe PORT
let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 8081 : 8081
let started = ContinuousClock.now
let router = Router()
router.get("healthz") { _, _ -> Response in
    let uptime = (ContinuousClock.now - started).components.seconds
    let body = #"{"status":"ok","version":"probe","uptime_sec":\#(uptime)}"# + "\n"
    return Response(
        status: .ok,
        headers: [.contentType: "application/json", .cacheControl: "no-store"],
        body: .init(byteBuffer: ByteBuffer(string: body))
    )
}
var logger = Logger(label: "probe")
logger.logLevel = .warning
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
try await app.runService()
