public import BuildServiceProtocol

/// The sizes a request may have, checked before anything else looks at it: every finished
/// build keeps its request for `retain_sec`, so a request's size is memory held for an hour,
/// and an argument list past the kernel's `ARG_MAX` would only fail at spawn.
public struct RequestSizeLimits: Sendable {
    /// `build.max_args_bytes`.
    public var argumentBytes: Int
    /// `build.max_args`.
    public var arguments: Int

    /// The longest argument execve takes, its NUL included (the kernel's `MAX_ARG_STRLEN`, 32
    /// pages): a longer one would pass here and fail the build at spawn with E2BIG.
    public static let maxArgumentBytes = 131_072

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
        for (index, argument) in request.args.enumerated() {
            let size = argument.utf8.count + 1
            if size > Self.maxArgumentBytes {
                throw ServiceError(
                    .argsTooLarge,
                    "args[\(index)] takes \(size) bytes; the kernel runs no argument over \(Self.maxArgumentBytes) (MAX_ARG_STRLEN)"
                )
            }
            bytes += size
        }
        if bytes > argumentBytes {
            throw ServiceError(
                .argsTooLarge,
                "args take \(bytes) bytes; at most \(argumentBytes) are allowed (build.max_args_bytes)"
            )
        }
        // A ref has git's own limits (`GitRef`); names are those the config allows.
        let fields: [(name: String, value: String?, limit: Int)] = [
            ("cwd", request.cwd, 4096),  // PATH_MAX
            ("command", request.command, ServiceConfig.maxNameBytes),
            ("project_id", request.projectID, ServiceConfig.maxNameBytes),
        ]
        for field in fields {
            if let value = field.value, value.utf8.count > field.limit {
                throw ServiceError(.fieldTooLong, "\(field.name) is \(value.utf8.count) bytes long; at most \(field.limit) are allowed")
            }
        }
    }
}
