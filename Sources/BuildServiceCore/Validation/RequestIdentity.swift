import BuildServiceTLS

/// A digest of what an idempotency key promises stays the same: project, command, arguments,
/// working directory, ref and environment. A kept build drops most of its arguments' bytes (see
/// `BuildPlan.keptAfterFinishing`), but a key used again must still be checked against all
/// of them. Each part is hashed with its length first, so no two different requests hash the
/// same bytes.
public struct RequestIdentity: Sendable, Equatable {
    private let digest: String

    public init(project: String, command: String, arguments: [String], cwd: String?, ref: String?, environment: [String] = []) {
        let hasher = SHA256Hasher()
        func add(length: UInt64) {
            withUnsafeBytes(of: length.littleEndian) { hasher.update($0) }
        }
        func add(_ text: String?) {
            // No value is told apart from an empty one by a length no text has.
            guard var text else {
                add(length: .max)
                return
            }
            add(length: UInt64(text.utf8.count))
            text.withUTF8 { hasher.update(UnsafeRawBufferPointer($0)) }
        }
        add(project)
        add(command)
        add(length: UInt64(arguments.count))
        for argument in arguments { add(argument) }
        add(cwd)
        add(ref)
        add(length: UInt64(environment.count))
        for variable in environment { add(variable) }
        digest = hasher.finalizeHex()
    }

    public init(_ plan: BuildPlan) {
        self.init(
            project: plan.projectID,
            command: plan.commandName,
            arguments: plan.arguments,
            cwd: plan.requestedCwd,
            ref: plan.repo?.ref,
            environment: plan.extraEnvironment
        )
    }
}
