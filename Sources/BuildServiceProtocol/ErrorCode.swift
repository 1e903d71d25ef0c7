/// A stable, machine-readable error code, sent on the wire as its string value
/// (`{"code": "project_not_found", ...}`). The names are part of the external contract: never rename one.
public struct ErrorCode: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) {
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    public static let invalidRequest = ErrorCode("invalid_request")
    public static let schemaVersion = ErrorCode("schema_version")
    public static let projectNotFound = ErrorCode("project_not_found")
    public static let commandNotAllowed = ErrorCode("command_not_allowed")
    public static let commandUnknown = ErrorCode("command_unknown")
    public static let refNotAllowed = ErrorCode("ref_not_allowed")
    public static let invalidRef = ErrorCode("invalid_ref")
    public static let timeout = ErrorCode("timeout")
    public static let invalidPath = ErrorCode("invalid_path")
    public static let spawnFailed = ErrorCode("spawn_failed")
    public static let artifactGlobMiss = ErrorCode("artifact_glob_miss")
    public static let artifactCollectionFailed = ErrorCode("artifact_collection_failed")
    public static let repoCloneFailed = ErrorCode("repo_clone_failed")
    public static let repoCheckoutFailed = ErrorCode("repo_checkout_failed")
    public static let repoSubdirInvalid = ErrorCode("repo_subdir_invalid")
    public static let pathRootInvalid = ErrorCode("path_root_invalid")
    public static let workspaceCreateFailed = ErrorCode("workspace_create_failed")
    public static let runAsUser = ErrorCode("run_as_user")
    public static let runAsGroup = ErrorCode("run_as_group")
    public static let unauthorized = ErrorCode("unauthorized")
    /// Added by this implementation: the token is valid but scoped to other projects (HTTP 403).
    public static let forbiddenProject = ErrorCode("forbidden_project")
    /// Added by this implementation: a signed artifact URL whose signature is wrong or expired (HTTP 403).
    public static let forbiddenSignature = ErrorCode("forbidden_signature")
    /// Added by this implementation: a form that did not come from the service's own page
    /// (another site's, or without the session's CSRF token) (HTTP 403).
    public static let csrfRefused = ErrorCode("csrf_refused")
    /// Added by this implementation: `POST /login` over plain HTTP to an address that is not
    /// loopback, where the Secure session cookie could not be kept (HTTP 403).
    public static let loginNeedsHTTPS = ErrorCode("login_needs_https")
    /// Added by this implementation: request body over the size limit (HTTP 413).
    public static let payloadTooLarge = ErrorCode("payload_too_large")
    /// Added by this implementation: no such route (HTTP 404) or method (HTTP 405).
    public static let notFound = ErrorCode("not_found")
    public static let methodNotAllowed = ErrorCode("method_not_allowed")
    /// Added by this implementation: the request was not HTTP/1.x or its headers were malformed.
    public static let badRequest = ErrorCode("bad_request")
    /// Added by this implementation: the daemon is stopping and starts no more builds (HTTP 503).
    public static let shutdown = ErrorCode("shutdown")
    /// Added by this implementation: the build queue is full (HTTP 429 with `Retry-After`).
    public static let queueFull = ErrorCode("queue_full")
    /// Added by this implementation: the artifact store cannot take the build's set within
    /// `artifacts.max_bytes`, even with older sets removed (other builds' sets being staged
    /// hold the room): an `error` event before a non-zero `exit`.
    public static let artifactStoreFull = ErrorCode("artifact_store_full")
    /// Added by this implementation: the request's arguments take more than
    /// `build.max_args_bytes`, one takes more than the kernel's `MAX_ARG_STRLEN`, or make
    /// would carry more than that in `MAKEFLAGS` (HTTP 413).
    public static let argsTooLarge = ErrorCode("args_too_large")
    /// Added by this implementation: the request has more than `build.max_args` arguments (HTTP 413).
    public static let tooManyArgs = ErrorCode("too_many_args")
    /// Added by this implementation: `cwd`, `command` or `project_id` is longer than its fixed
    /// limit (HTTP 400; the message names the field and the limit; a long `ref` is `invalid_ref`).
    public static let fieldTooLong = ErrorCode("field_too_long")
    /// Added by this implementation: the client has `service.http.max_connections_per_ip`
    /// connections open already (HTTP 503 with `Retry-After`, then the connection closes).
    public static let tooManyConnections = ErrorCode("too_many_connections")
    /// Added by this implementation: no build with this id (or none this token may see) (HTTP 404).
    public static let buildNotFound = ErrorCode("build_not_found")
    /// Added by this implementation: a `request_id` reused for a different request (HTTP 409).
    public static let idempotencyKeyConflict = ErrorCode("idempotency_key_conflict")
    /// Added by this implementation: `DELETE` of a build that has already ended (HTTP 409).
    public static let buildFinished = ErrorCode("build_finished")
    /// Added by this implementation: a re-attaching client missed events the daemon no longer holds
    /// (a `warning`).
    public static let eventsDropped = ErrorCode("events_dropped")
    /// Added by this implementation: the service failed for a reason of its own.
    public static let internalError = ErrorCode("internal_error")
    /// An argument the command's policy refuses (make variables, targets, `-j`, `args` patterns).
    public static let argumentNotAllowed = ErrorCode("argument_not_allowed")
    /// A variable in the request's `env` the project does not pass (not in its
    /// `pass_environment`, never passable, or a value with make or shell characters).
    public static let envNotAllowed = ErrorCode("env_not_allowed")
    /// A signed download link whose time is over (HTTP 410): a fresh one comes with every read
    /// of the build (`GET /v1/builds/{id}`, `build-cli status`). A changed one is
    /// `forbidden_signature` (403).
    public static let linkExpired = ErrorCode("link_expired")
}

/// A request the service refuses, with the code and message the client sees.
public struct ServiceError: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    /// The HTTP status a request refused with this error gets before its build starts.
    public var httpStatus: Int {
        switch code {
        case .projectNotFound, .notFound, .buildNotFound: 404
        case .queueFull: 429
        case .buildFinished, .idempotencyKeyConflict: 409
        case .commandNotAllowed, .commandUnknown, .forbiddenProject, .forbiddenSignature, .csrfRefused, .loginNeedsHTTPS: 403
        case .unauthorized: 401
        case .payloadTooLarge, .argsTooLarge, .tooManyArgs: 413
        case .methodNotAllowed: 405
        case .linkExpired: 410
        case .shutdown, .tooManyConnections: 503
        case .internalError, .spawnFailed, .workspaceCreateFailed, .runAsUser, .runAsGroup, .pathRootInvalid: 500
        default: 400
        }
    }
}
