import Testing

@testable import BuildServiceProtocol

/// The HTTP status a refused request gets, by error code.
struct ServiceErrorTests {
    @Test(
        arguments: [
            (ErrorCode.projectNotFound, 404),
            (.commandNotAllowed, 403),
            (.commandUnknown, 403),
            (.unauthorized, 401),
            (.payloadTooLarge, 413),
            (.invalidPath, 400),
            (.invalidRequest, 400),
            (.schemaVersion, 400),
            (.timeout, 400),
            (.refNotAllowed, 400),
            (.notFound, 404),
            (.methodNotAllowed, 405),
            (.internalError, 500),
            (.spawnFailed, 500),
            (.pathRootInvalid, 500),
        ]
    )
    func httpStatusFollowsTheCode(code: ErrorCode, status: Int) {
        #expect(ServiceError(code, "message").httpStatus == status)
    }

    @Test func codesHaveTheirWireNames() {
        #expect(ErrorCode.projectNotFound.rawValue == "project_not_found")
        #expect(ErrorCode.commandNotAllowed.rawValue == "command_not_allowed")
        #expect(ErrorCode.unauthorized.rawValue == "unauthorized")
        #expect(ErrorCode.payloadTooLarge.rawValue == "payload_too_large")
        #expect(ErrorCode.invalidPath.rawValue == "invalid_path")
    }

    @Test func descriptionShowsCodeAndMessage() {
        #expect(ServiceError(.invalidPath, "cwd \"..\" escapes").description == "invalid_path: cwd \"..\" escapes")
    }
}
