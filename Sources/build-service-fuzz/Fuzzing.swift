#if FUZZING
    import BuildServiceFuzzing
    import Foundation

    /// libFuzzer's driver (`LLVMFuzzerRunDriver`, linked by `-sanitize=fuzzer`) on one target.
    /// SwiftPM gives an executable its own `main`, so the driver is started from it rather than
    /// from libFuzzer's; `LLVMFuzzerTestOneInput` is defined as well, for libFuzzer's `main`.
    enum Fuzzing {
        nonisolated(unsafe) static var target = FuzzTarget.requestDecoder
        nonisolated(unsafe) static var environment: FuzzEnvironment?

        static func start(_ target: FuzzTarget, environment: FuzzEnvironment) -> Never {
            Self.target = target
            Self.environment = environment
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
        }
    }

    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    /// One input; an oracle's finding stops the fuzzer like a crash, with the input saved.
    @_cdecl("LLVMFuzzerTestOneInput")
    func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        // Set before the driver starts; without it nothing would be tested.
        guard let environment = Fuzzing.environment else { fatalError("the fuzz target's environment was not set up") }
        let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        if let finding = Fuzzing.target.run(input, environment: environment) {
            fatalError("\(Fuzzing.target.rawValue): \(finding)")
        }
        return 0
    }
#endif
