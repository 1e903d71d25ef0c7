import Foundation

/// The inputs the daemon and build-cli take from whoever reaches them, each wrapped as a
/// libFuzzer target (`build-service-fuzz`, `scripts/fuzz.sh`) with an oracle: a target returns
/// what it found wrong, or nil. A crash or trap in the code under test is a finding too; the
/// fuzzer catches it. The test suite replays every kept input (`Fuzz/corpus`, `Fuzz/crashes`)
/// through the same targets.
package enum FuzzTarget: String, CaseIterable, Sendable {
    /// A `POST /v1/builds` body: the in-place reader must agree with JSONDecoder.
    case requestDecoder = "request-decoder"
    /// Bytes of an HTTP/1.1 connection: the same requests in any split, and none accepted that
    /// NIO's decoder refuses or reads otherwise.
    case httpRequest = "http-request"
    /// A `Range` header against files of a few sizes: ranges inside the file, and the RFC
    /// 9110 model's answer where the header is in its grammar's alphabet.
    case byteRanges = "byte-ranges"
    /// A request target: an artifact route never names a path outside its build.
    case artifactRoute = "artifact-route"
    /// make's arguments under a policy: nothing make or a shell would expand gets through.
    case argumentPolicy = "argument-policy"
    /// The original framing's request line, split into reads: the same line as in one read.
    case legacyLine = "legacy-line"
    /// A config file: parsed behind the sandbox, and whatever the child survived parses in
    /// this process without a crash.
    case config
    /// Bytes from the network into the TLS handler, as server (daemon) or client (build-cli).
    case tls
    /// A stored zip's bytes: its directory and entries read within bounds, to their sizes.
    case zipArchive = "zip-archive"

    /// Runs one input; a finding is a description of what the oracle saw.
    package func run(_ input: [UInt8], environment: FuzzEnvironment) -> String? {
        switch self {
        case .requestDecoder: RequestDecoderFuzzing.run(input)
        case .httpRequest: HTTPRequestFuzzing.run(input)
        case .byteRanges: ByteRangesFuzzing.run(input)
        case .artifactRoute: ArtifactRouteFuzzing.run(input)
        case .argumentPolicy: ArgumentPolicyFuzzing.run(input)
        case .legacyLine: LegacyLineFuzzing.run(input)
        case .config: ConfigFuzzing.run(input, sandbox: environment.configSandbox)
        case .tls: TLSFuzzing.run(input, contexts: environment.tlsContexts)
        case .zipArchive: ZipArchiveFuzzing.run(input)
        }
    }
}
