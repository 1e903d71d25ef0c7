import BuildServiceFuzzing
import Foundation
import Testing

/// Every input the fuzzers kept (`Fuzz/corpus/<target>/`) and every crash they found
/// (`Fuzz/crashes/<target>/`) runs through its target's oracle once more: a fixed crash stays
/// fixed, and the oracles hold on the whole corpus.
@Suite struct FuzzInputReplayTests {
    /// The repository root, from this file's place in it.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// A certificate for the TLS target, removed when the test process ends.
    static let certificates: String = {
        do {
            let directory = try FuzzEnvironment.makeCertificates(repositoryRoot: root)
            atexit { try? FileManager.default.removeItem(atPath: FuzzInputReplayTests.certificates) }
            return directory
        } catch {
            fatalError("certs/make-dev-certs.sh failed: \(error)")
        }
    }()

    static let environment: FuzzEnvironment = {
        // The config sandbox's child is build-service-fuzz parse-config, built next to this runner.
        let runner = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let program = URL(fileURLWithPath: runner).deletingLastPathComponent().appendingPathComponent("build-service-fuzz").path
        do {
            return try FuzzEnvironment(parserProgram: program, parserArguments: ["parse-config"], certificateDirectory: certificates)
        } catch {
            fatalError("cannot set up the fuzz targets' environment: \(error)")
        }
    }()

    /// The kept inputs of `target`, corpus and crashes.
    static func inputs(of target: FuzzTarget) -> [String] {
        ["corpus", "crashes"].flatMap { kind in
            let directory = "\(root)/Fuzz/\(kind)/\(target.rawValue)"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return names.sorted().map { "\(directory)/\($0)" }
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func keptInputsPassTheOracle(target: FuzzTarget) throws {
        let inputs = Self.inputs(of: target)
        #expect(!inputs.isEmpty, "no corpus for \(target.rawValue)")
        for path in inputs {
            let bytes = try #require(FileManager.default.contents(atPath: path))
            #expect(target.run(Array(bytes), environment: Self.environment) == nil, "\(path)")
        }
    }
}
