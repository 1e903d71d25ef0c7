// swift-tools-version:6.2
import PackageDescription

// One settings array for every target, so all code is held to the same language mode and
// warnings; a warning fails the build (of our targets, not of the dependencies).
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "build-service",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "build-service", targets: ["build-service"]),
        .executable(name: "build-cli", targets: ["build-cli"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // Debian's OpenSSL 3 (libssl-dev), seen through a header of static inline shims for the
        // macros Swift cannot import.
        // It is not linked: CShims/openssl/openssl_loader.c opens it on first use (dlopen), so
        // a program that never uses TLS or a digest never loads it.
        .target(name: "CBuildServiceOpenSSL", path: "CShims/openssl", linkerSettings: [.linkedLibrary("dl")]),
        // fork/exec of a build: what must happen between fork and exec is only safe in C.
        .target(name: "CBuildServiceSpawn", path: "CShims/spawn"),
        // Paths resolved beneath a directory (openat2), ownership of a tree, sockets, threads.
        .target(name: "CBuildServiceSystem", path: "CShims/system"),
        // Raw deflate a step at a time (zlib), for serving one entry of a stored zip.
        .target(name: "CBuildServiceInflate", path: "CShims/inflate", linkerSettings: [.linkedLibrary("z")]),
        // The scan that finds the next byte a JSON string must escape, sixteen bytes at a time.
        .target(name: "CBuildServiceJSONScan", path: "CShims/jsonscan"),
        // The commit the binaries were built from, given as a C macro by the release script.
        .target(name: "CBuildServiceVersion", path: "CShims/version"),
        .target(
            name: "BuildServiceTLS",
            dependencies: ["CBuildServiceOpenSSL", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // Runtime helpers shared by the daemon and the client (a task executor on an event loop).
        .target(
            name: "BuildServiceConcurrency",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "BuildServiceProtocol",
            dependencies: ["CBuildServiceJSONScan", "CBuildServiceVersion", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "BuildServiceCore",
            dependencies: [
                "BuildServiceConcurrency",
                "BuildServiceProtocol",
                "BuildServiceTLS",
                "CBuildServiceSpawn",
                "CBuildServiceSystem",
                "CBuildServiceInflate",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "BuildServiceServer",
            dependencies: [
                "BuildServiceConcurrency",
                "BuildServiceCore",
                "BuildServiceTLS",
                "CBuildServiceSystem",
                "BuildServiceProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "BuildClient",
            dependencies: [
                "BuildServiceConcurrency",
                "BuildServiceProtocol",
                "BuildServiceTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "build-service",
            dependencies: [
                "BuildServiceServer",
                "BuildServiceCore",
                "BuildServiceTLS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "build-cli",
            dependencies: [
                "BuildClient",
                "BuildServiceTLS",
                "BuildServiceProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The fuzz targets and their oracles (scripts/fuzz.sh), replayed by the test suite.
        .target(
            name: "BuildServiceFuzzing",
            dependencies: [
                "BuildServiceCore",
                "BuildServiceProtocol",
                "BuildServiceServer",
                "BuildServiceTLS",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "build-service-fuzz",
            dependencies: ["BuildServiceFuzzing", "BuildServiceCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BuildServiceFuzzingTests",
            dependencies: ["BuildServiceFuzzing"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BuildServiceProtocolTests",
            dependencies: ["BuildServiceProtocol"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BuildServiceTLSTests",
            dependencies: [
                "BuildServiceTLS",
                "BuildServiceFuzzing",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BuildServiceCoreTests",
            dependencies: [
                "BuildServiceConcurrency", "BuildServiceCore", "BuildServiceProtocol", .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BuildServiceServerTests",
            dependencies: [
                "BuildServiceServer",
                "BuildServiceFuzzing",
                "BuildServiceCore",
                "BuildServiceProtocol",
                "BuildServiceTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["BuildServiceProtocol", "BuildClient", "CBuildServiceSpawn"],
            swiftSettings: swiftSettings
        ),
    ]
)
