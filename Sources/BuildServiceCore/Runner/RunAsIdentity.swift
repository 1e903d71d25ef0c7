public import BuildServiceProtocol
public import Foundation

/// The user a build runs as: its ids, its supplementary groups and the passwd facts that become
/// HOME, USER and LOGNAME in the build's environment.
public struct RunAsIdentity: Sendable, Equatable {
    public var userName: String
    public var uid: uid_t
    public var gid: gid_t
    public var supplementaryGroups: [gid_t]
    public var home: String
    /// False when builds run as the daemon's own user (nothing to switch).
    public var switchesIdentity: Bool

    /// Looks the configured user (and optional group) up now; `nil` means the daemon's own user.
    /// - Throws: `ServiceError` with code `run_as_user` or `run_as_group` when one does not exist.
    public static func resolve(user: String?, group: String?) throws(ServiceError) -> RunAsIdentity {
        guard let user else {
            let entry = try passwdEntry { getpwuid_r(geteuid(), &$0, $1, $2, &$3) }
            guard let entry else { throw ServiceError(.runAsUser, "the daemon's user id \(geteuid()) has no passwd entry") }
            return RunAsIdentity(
                userName: entry.name,
                uid: geteuid(),
                gid: getegid(),
                supplementaryGroups: [],
                home: entry.home,
                switchesIdentity: false
            )
        }
        guard let entry = try passwdEntry({ getpwnam_r(user, &$0, $1, $2, &$3) }) else {
            throw ServiceError(.runAsUser, "no user named \"\(user)\" exists on this host")
        }
        var gid = entry.gid
        if let group {
            guard let groupEntry = getgrnam(group) else {
                throw ServiceError(.runAsGroup, "no group named \"\(group)\" exists on this host")
            }
            gid = groupEntry.pointee.gr_gid
        }
        return RunAsIdentity(
            userName: entry.name,
            uid: entry.uid,
            gid: gid,
            supplementaryGroups: groupList(user: user, primary: gid),
            home: entry.home,
            switchesIdentity: entry.uid != geteuid() || gid != getegid()
        )
    }

    private struct PasswdFacts {
        var name: String
        var uid: uid_t
        var gid: gid_t
        var home: String
    }

    private static func passwdEntry(
        _ lookup: (inout passwd, UnsafeMutablePointer<CChar>, Int, inout UnsafeMutablePointer<passwd>?) -> Int32
    ) throws(ServiceError) -> PasswdFacts? {
        var record = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        let status = buffer.withUnsafeMutableBufferPointer { lookup(&record, $0.baseAddress!, $0.count, &result) }
        guard status == 0 else { throw ServiceError(.runAsUser, "passwd lookup failed: \(String(cString: strerror(status)))") }
        guard result != nil else { return nil }
        return PasswdFacts(
            name: String(cString: record.pw_name),
            uid: record.pw_uid,
            gid: record.pw_gid,
            home: String(cString: record.pw_dir)
        )
    }

    /// The user's groups from the group database, as initgroups(3) would set them.
    private static func groupList(user: String, primary: gid_t) -> [gid_t] {
        var count: Int32 = 64
        while true {
            var groups = [gid_t](repeating: 0, count: Int(count))
            let previous = count
            if getgrouplist(user, primary, &groups, &count) >= 0 {
                return Array(groups.prefix(Int(count)))
            }
            if count <= previous { count = previous * 2 }
        }
    }
}
