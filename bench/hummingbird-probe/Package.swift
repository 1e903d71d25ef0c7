// swift-tools-version:6.0
import PackageDescription

// Not part of build-service: a measurement for docs/architecture.md. The same `/healthz` as
// the daemon's, served by Hummingbird 2's router and HTTP/1 channel, so that the two HTTP
// layers can be compared on one machine in one run (bench/hummingbird_ab.py).
let package = Package(
    name: "hummingbird-probe",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1")
    ],
    targets: [
        .executableTarget(
            name: "HummingbirdProbe",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
