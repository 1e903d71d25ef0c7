import BuildServiceProtocol
import FoundationEssentials
import Glibc

/// What build-cli says on stderr, in one line, when a build did not simply run to its end: a
/// timeout, a cancel it did not ask for, a daemon shutting down. The build's own output stays
/// untouched; `-v` adds the build id at the start and a timing line at the end.
struct BuildOutcome {
    var verbose = false
    /// `--timeout`, when given (the service's default otherwise, which the client does not know).
    var requestedTimeoutSec: Int?
    private(set) var buildID: String?
    /// The build page's link, from the `started` event.
    private(set) var pageURL: String?
    private var started = ContinuousClock.now
    /// How long the build waited for a slot, once it started after a `queued` event.
    private var queuedFor: Duration?
    private var shuttingDown = false

    init(verbose: Bool, requestedTimeoutSec: Int?) {
        self.verbose = verbose
        self.requestedTimeoutSec = requestedTimeoutSec
    }

    mutating func observe(_ event: BuildEvent) {
        switch event {
        case .build(let id, let status, let position, let pageURL):
            if buildID == nil, verbose {
                EventPrinter.complain("build \(id) \(status)\(position.map { " (position \($0) in the queue)" } ?? "")")
            }
            if status == "started", buildID != nil, queuedFor == nil { queuedFor = .now - started }
            if buildID == nil || status == "started" { started = .now }
            buildID = id
            if let pageURL { self.pageURL = pageURL }
        case .error(let code, _, _) where code == "shutdown":
            shuttingDown = true
        default:
            break
        }
    }

    /// After the output: the build's id, its page and each artifact's link, so an agent can
    /// hand a person something to open (`--quiet` and `--json` leave it out; the JSON summary
    /// carries the links). Links the service gave as paths only (a build over the Unix socket
    /// of a daemon without `service.http.public_url`) are printed as they are.
    func printLinks(_ exit: BuildExit) {
        guard let buildID else { return }
        let page = exit.pageURL ?? pageURL
        EventPrinter.complain("build \(buildID)" + (page.map { " page: \($0)" } ?? ""))
        for artifact in exit.artifacts {
            EventPrinter.complain("artifact \(artifact.name): \(artifact.url)")
        }
    }

    /// The line(s) for the build's end; `cancelledHere`: this build-cli sent the cancel (Ctrl-C).
    func report(_ exit: BuildExit, cancelledHere: Bool) {
        let name = buildID.map { "build \($0)" } ?? "build"
        if exit.timedOut {
            let limit = requestedTimeoutSec.map { " after \($0) s" } ?? " (the service's timeout)"
            EventPrinter.complain("\(name) timed out\(limit): stopped with SIGTERM, then SIGKILL 5 s later (exit \(exit.code))")
        } else if exit.cancelled && !cancelledHere {
            let why = shuttingDown ? "the build service is shutting down" : "by another client, or nobody re-attached in time"
            EventPrinter.complain("\(name) was cancelled: \(why) (exit \(exit.code))")
        }
        guard verbose else { return }
        var line = "\(name) exited \(exit.code) after \(Self.seconds(ContinuousClock.now - started))"
        if let queuedFor { line += " (queued for \(Self.seconds(queuedFor)) before)" }
        if let resources = exit.resources {
            let user = ByteCountText.decimal(resources.cpuUserSec, places: 2)
            let system = ByteCountText.decimal(resources.cpuSystemSec, places: 2)
            line += "; cpu \(user) s user, \(system) s system; max RSS \(resources.maxRSSKiB / 1024) MiB"
        }
        EventPrinter.complain(line)
    }

    private static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return ByteCountText.decimal(Double(seconds) + Double(attoseconds) / 1e18, places: 2) + " s"
    }
}
