import CBuildServiceVersion

/// The version of both programs, as `--version` and `/healthz` report it.
public enum BuildServiceVersion {
    public static let text = "0.2.0"
    /// The commit built from (`scripts/build-release.sh` passes it), or "unknown".
    public static let commit = String(cString: bs_build_commit())

    /// `--version`'s line: `build-cli 0.2.0 (commit 1a2b3c4d5e6f, OpenSSL 3.0.17 1 Jul 2025)`.
    public static func line(program: String, openSSL: String) -> String {
        "\(program) \(text) (commit \(commit), \(openSSL))"
    }
}
