import BuildClient

/// The variables a run sends as the request's `env`: `--env NAME=VALUE`, `--env NAME` (the
/// value build-cli has), and the names listed in `$BUILD_SERVICE_ENV` that are set (a standing
/// list for a container's wrapper: `CFLAGS=-O0 make` forwards CFLAGS). The service passes only
/// names the project lists in `pass_environment` and refuses the request otherwise.
enum ForwardedEnvironment {
    /// - Throws: `ClientError.usage` for an empty name or `--env NAME` with NAME unset.
    static func collect(options: [String], environment: [String: String]) throws(ClientError) -> [String: String]? {
        var forwarded: [String: String] = [:]
        let listed = (environment["BUILD_SERVICE_ENV"] ?? "").split { $0 == " " || $0 == "," || $0 == "\t" }
        for name in listed.map(String.init) {
            if let value = environment[name] { forwarded[name] = value }
        }
        for option in options {
            let parts = option.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let name = parts[0]
            guard !name.isEmpty else { throw ClientError.usage("--env '\(option)' has no variable name; use --env NAME=VALUE or --env NAME") }
            if parts.count == 2 {
                forwarded[name] = parts[1]
            } else if let value = environment[name] {
                forwarded[name] = value
            } else {
                throw ClientError.usage("--env \(name): \(name) is not set here; give its value as --env \(name)=VALUE")
            }
        }
        return forwarded.isEmpty ? nil : forwarded
    }
}
