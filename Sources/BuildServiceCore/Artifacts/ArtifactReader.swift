public import Foundation

/// Whose permissions decide what a build's artifacts may be: the daemon may run as root while
/// the build ran as another user, and collecting must not reach what that user could not.
/// Permission bits are judged the way the kernel judges them for that user (owner, then group
/// and supplementary groups, then others); POSIX ACLs are not read, so an ACL that grants the
/// user more than the bits do is not honoured (the artifact is refused, never leaked).
public struct ArtifactReader: Sendable, Equatable {
    public let uid: uid_t
    public let gid: gid_t
    public let groups: Set<gid_t>

    public init(uid: uid_t, gid: gid_t, groups: [gid_t]) {
        self.uid = uid
        self.gid = gid
        self.groups = Set(groups)
    }

    /// The build user's reader, or nil when builds run as the daemon's own user (the kernel
    /// then already judges every open by the build's permissions).
    public init?(identity: RunAsIdentity) {
        guard identity.switchesIdentity else { return nil }
        self.init(uid: identity.uid, gid: identity.gid, groups: identity.supplementaryGroups)
    }

    struct Access: OptionSet {
        let rawValue: mode_t
        static let read = Access(rawValue: 4)
        static let search = Access(rawValue: 1)
    }

    func may(_ access: Access, _ info: stat) -> Bool {
        if uid == 0 { return true }
        let bits: mode_t
        if info.st_uid == uid {
            bits = (info.st_mode >> 6) & 7
        } else if info.st_gid == gid || groups.contains(info.st_gid) {
            bits = (info.st_mode >> 3) & 7
        } else {
            bits = info.st_mode & 7
        }
        return bits & access.rawValue == access.rawValue
    }
}
