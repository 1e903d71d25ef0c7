import BuildServiceTLS

/// A digest of what an idempotency key promises stays the same: project, command, arguments,
/// working directory and ref. A kept build drops most of its arguments' bytes (see
/// `BuildPlan.keptAfterFinishing`), but a key used again must still be checked against all
/// of them. Each part is written with its length, so no two different requests write the same
/// bytes.
public struct RequestIdentity: Sendable, Equatable {
    private let digest: [UInt8]

    public init(project: String, command: String, arguments: [String], cwd: String?, ref: String?) {
        var bytes: [UInt8] = []
        func write(_ text: String?) {
            guard let text else {
                bytes += [0xFF]
                return
            }
            withUnsafeBytes(of: UInt64(text.utf8.count).littleEndian) { bytes += $0 }
            bytes += text.utf8
        }
        write(project)
        write(command)
        withUnsafeBytes(of: UInt64(arguments.count).littleEndian) { bytes += $0 }
        for argument in arguments { write(argument) }
        write(cwd)
        write(ref)
        digest = SHA256Digest.digest(bytes)
    }

    public init(_ plan: BuildPlan) {
        self.init(project: plan.projectID, command: plan.commandName, arguments: plan.arguments, cwd: plan.requestedCwd, ref: plan.repo?.ref)
    }
}
