#ifndef BUILD_SERVICE_SYSTEM_H
#define BUILD_SERVICE_SYSTEM_H

// Linux calls Swift cannot make directly (openat2, SO_PEERCRED, pthread names) or should not
// make one by one (a descriptor walk of a tree): paths resolved beneath a directory,
// ownership, sockets and threads. Processes are CBuildServiceSpawn's.

#include <sys/types.h>

// MARK: Paths beneath a directory

/// openat2(directory, path, O_PATH [| O_DIRECTORY], RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS):
/// a handle on what `path` names, symlinks followed only while they stay beneath `directory`.
/// -1 with errno: EXDEV for an escape, ENOENT, ENOTDIR, ELOOP, ENOSYS before Linux 5.6.
int bs_open_path_beneath(int directory, const char *path, int require_directory);

/// openat2(directory, path, O_RDONLY, RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH): -1 with errno
/// (ENOSYS before Linux 5.6, ELOOP for a symlink, EXDEV for an escape).
int bs_open_beneath_nofollow(int directory, const char *path);

/// openat2(directory, path, O_RDONLY|O_NONBLOCK, RESOLVE_BENEATH): symlinks followed only while
/// they stay inside `directory`; -1 with errno (EXDEV for an escape, ENOSYS before Linux 5.6).
int bs_open_beneath(int directory, const char *path);

/// open(path, O_PATH | O_DIRECTORY | O_CLOEXEC): a handle on a directory that reads nothing.
int bs_open_directory_path(const char *path);

// MARK: Ownership

/// Gives `path` and everything under it to uid:gid, walking by descriptor (openat with
/// O_NOFOLLOW, fchownat with AT_SYMLINK_NOFOLLOW), so no symlink, however it got there or
/// whenever it was swapped in, leads the walk or a chown outside the tree. A regular file with
/// more than one link is refused (EMLINK): it could be someone else's file. 0 or -1 (errno).
int bs_chown_tree(const char *path, uid_t uid, gid_t gid);

// MARK: Sockets

/// 1 when something accepts connections on the Unix socket at `path` (a daemon is running
/// there), 0 when not (a stale socket file), -1 on error.
int bs_unix_socket_accepts(const char *path);

/// `struct ucred` as SO_PEERCRED fills it (glibc shows it only under _GNU_SOURCE, which Swift's
/// view of the headers lacks).
typedef struct {
    pid_t pid;
    uid_t uid;
    gid_t gid;
} bs_peer_credentials;

/// SO_PEERCRED's option number.
static const int BS_SO_PEERCRED = 17;

// MARK: Threads

/// Names the calling thread for the kernel (`top -H`, /proc/…/comm): at most 15 bytes. 0 or an errno.
int bs_name_thread(const char *name);

#endif
