import CBuildServiceSystem
import Foundation

/// What the daemon needs of the kernel (and of the seccomp filter it runs under) to keep builds
/// inside their projects. Checked by `check-config` and at start: without it every build would
/// be refused with a misleading "resolves outside the project root".
public enum KernelRequirements {
    /// nil when `openat2(RESOLVE_BENEATH)` works here, else what to do about it. Linux has it
    /// from 5.6; systemd's `RestrictSUIDSGID=yes` answers it with ENOSYS (its filter cannot
    /// look inside `struct open_how`), so the shipped unit leaves that option off; a
    /// `SystemCallFilter` without it gives EPERM (`SystemCallErrorNumber=EPERM`).
    public static func problem() -> ConfigError? {
        let root = bs_open_directory_path("/")
        guard root >= 0 else { return nil }
        defer { close(root) }
        let opened = bs_open_path_beneath(root, ".", 1)
        if opened >= 0 {
            close(opened)
            return nil
        }
        let error = errno
        let cause: String
        switch error {
        case ENOSYS: cause = "it needs Linux 5.6 or later; under systemd, remove RestrictSUIDSGID=yes from the unit and its drop-ins"
        case EPERM: cause = "a seccomp filter refuses it; under systemd, SystemCallFilter= must allow it (@system-service does)"
        default: return nil
        }
        return ConfigError(
            key: nil,
            "openat2(2) is refused here (\(String(cString: strerror(error)))): every path a build names is resolved with it, "
                + "so builds would all be refused; \(cause)"
        )
    }
}
