public import BuildServiceProtocol

/// The sizes a request may have, checked before anything else looks at it: every finished
/// build keeps its request for `retain_sec`, so a request's size is memory held for an hour,
/// and an argument list past the kernel's `ARG_MAX` would only fail at spawn.
public struct RequestSizeLimits: Sendable {
    /// `build.max_args_bytes`.
    public var argumentBytes: Int
    /// `build.max_args`.
    public var arguments: Int

    /// Fixed limits of the other fields, in bytes: a path the kernel takes (`PATH_MAX`), a
    /// git ref name with room to spare, names as long as a file name may be.
    public static let fieldLimits: [(field: String, bytes: Int)] = [
        ("cwd", 4096), ("ref", 1024), ("command", 255), ("project_id", 255),
    ]

    public init(argumentBytes: Int, arguments: Int) {
        self.argumentBytes = argumentBytes
        self.arguments = arguments
    }

    public init(_ build: BuildSettings) {
        self.init(argumentBytes: build.maxArgsBytes, arguments: build.maxArgs)
    }

    /// - Throws: `ServiceError` `too_many_args`, `args_too_large` or `field_too_long`, naming
    ///   the limit and the key that sets it.
    public func check(_ request: BuildRequest) throws(ServiceError) {
        if request.args.count > arguments {
            throw ServiceError(
                .tooManyArgs,
                "args has \(request.args.count) arguments; at most \(arguments) are allowed (build.max_args)"
            )
        }
        // Each argument with its terminating NUL, as execve counts them.
        var bytes = 0
        for argument in request.args {
            bytes += argument.utf8.count + 1
        }
        if bytes > argumentBytes {
            throw ServiceError(
                .argsTooLarge,
                "args take \(bytes) bytes; at most \(argumentBytes) are allowed (build.max_args_bytes)"
            )
        }
        let values = [request.cwd, request.ref, request.command, request.projectID]
        for ((field, limit), value) in zip(Self.fieldLimits, values) {
            if let value, value.utf8.count > limit {
                throw ServiceError(.fieldTooLong, "\(field) is \(value.utf8.count) bytes long; at most \(limit) are allowed")
            }
        }
    }
}
