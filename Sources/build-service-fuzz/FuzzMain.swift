import BuildServiceCore
import BuildServiceFuzzing
import Foundation

/// `build-service-fuzz`: the fuzz targets of `BuildServiceFuzzing` as one program.
/// - Built by `scripts/fuzz.sh` with `-sanitize=fuzzer` (and `-D FUZZING`): libFuzzer's
///   driver, on the target named by `FUZZ_TARGET`, with libFuzzer's own arguments.
/// - Built normally: `build-service-fuzz TARGET FILE…` runs each file through the target once
///   and prints what the oracle found (to reproduce a crash file without the fuzzer).
/// - `build-service-fuzz parse-config`: the config sandbox's child, as `build-service
///   parse-config` is for the daemon.
@main
struct FuzzMain {
    static func main() {
        let arguments = CommandLine.arguments
        if arguments.count == 2, arguments[1] == "parse-config" { parseConfig() }
        #if FUZZING
            guard let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"], let target = FuzzTarget(rawValue: name) else {
                fail("set FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            Fuzzing.start(target, environment: environment())
        #else
            guard arguments.count >= 3, let target = FuzzTarget(rawValue: arguments[1]) else {
                fail("usage: build-service-fuzz TARGET FILE… (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let environment = environment()
            var findings = 0
            for path in arguments.dropFirst(2) {
                guard let bytes = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
                if let finding = target.run(Array(bytes), environment: environment) {
                    print("\(path): \(finding)")
                    findings += 1
                }
            }
            exit(findings == 0 ? 0 : 1)
        #endif
    }

    /// The targets' environment: this program as the config parser's child, and the
    /// certificates `FUZZ_CERTS` names (made by `certs/make-dev-certs.sh --name server`).
    static func environment() -> FuzzEnvironment {
        guard let certificates = ProcessInfo.processInfo.environment["FUZZ_CERTS"] else {
            fail("set FUZZ_CERTS to a directory made by certs/make-dev-certs.sh --name server")
        }
        do {
            return try FuzzEnvironment(parserProgram: "/proc/self/exe", parserArguments: ["parse-config"], certificateDirectory: certificates)
        } catch {
            fail("cannot set up the targets: \(error)")
        }
    }

    /// Parses config text from standard input: exit 0 (a config) or 1 (not one).
    static func parseConfig() -> Never {
        let text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        exit((try? ServiceConfig.parse(toml: text, parserStackBytes: ServiceConfig.sandboxParserStackBytes)) != nil ? 0 : 1)
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("build-service-fuzz: \(message)\n".utf8))
        exit(64)
    }
}
