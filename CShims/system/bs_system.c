#define _GNU_SOURCE
#include "bs_system.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include <assert.h>
#include <linux/openat2.h>

int bs_unix_socket_accepts(const char *path) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address.sun_path) return -1;
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int result = connect(fd, (struct sockaddr *)&address, sizeof address) == 0 ? 1 : 0;
    close(fd);
    return result;
}

static_assert(sizeof(bs_peer_credentials) == sizeof(struct ucred), "bs_peer_credentials mirrors struct ucred");
static_assert(BS_SO_PEERCRED == SO_PEERCRED, "SO_PEERCRED");

int bs_open_directory_path(const char *path) {
    return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/// openat2, tried again a few times on EAGAIN: with RESOLVE_BENEATH the kernel answers that
/// when a rename anywhere on the host raced the walk (a `..` in a followed symlink); a build
/// renaming in a loop must not hold the caller here, so a few tries only.
static int open_how_retrying(int directory, const char *path, struct open_how *how) {
    int fd;
    int tries = 0;
    do {
        fd = (int)syscall(SYS_openat2, directory, path, how, sizeof *how);
    } while (fd < 0 && errno == EAGAIN && ++tries < 16);
    return fd;
}

int bs_open_path_beneath(int directory, const char *path, int require_directory) {
    // O_PATH opens nothing for reading (a FIFO cannot block it, a device is not touched); the
    // kernel refuses any resolution that leaves `directory`, by `..` or by a symlink.
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_CLOEXEC | (require_directory ? O_DIRECTORY : 0);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return open_how_retrying(directory, path, &how);
}

int bs_open_beneath_nofollow(int directory, const char *path) {
    // One system call instead of an openat per component, and the kernel guarantees what
    // the walk did by hand: no symlink anywhere on the way, nothing outside `directory`.
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return open_how_retrying(directory, path, &how);
}

int bs_open_beneath(int directory, const char *path) {
    // Symlinks are followed, but the kernel refuses any resolution that leaves `directory`.
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return open_how_retrying(directory, path, &how);
}

/// One directory of bs_chown_tree; takes ownership of `directory`.
static int chown_directory(int directory, uid_t uid, gid_t gid, int depth) {
    if (depth > 1000) {
        close(directory);
        errno = ELOOP;
        return -1;
    }
    DIR *listing = fdopendir(directory);
    if (listing == NULL) {
        close(directory);
        return -1;
    }
    int result = 0;
    struct dirent *entry;
    errno = 0;
    while ((entry = readdir(listing)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
        struct stat info;
        if (fstatat(directory, entry->d_name, &info, AT_SYMLINK_NOFOLLOW) < 0) { result = -1; break; }
        if (S_ISREG(info.st_mode) && info.st_nlink > 1) { errno = EMLINK; result = -1; break; }
        if (fchownat(directory, entry->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) { result = -1; break; }
        if (S_ISDIR(info.st_mode)) {
            int child = openat(directory, entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (child < 0 || chown_directory(child, uid, gid, depth + 1) < 0) { result = -1; break; }
        }
        errno = 0;
    }
    if (result == 0 && errno != 0) result = -1;
    int saved = errno;
    closedir(listing);
    errno = saved;
    return result;
}

int bs_chown_tree(const char *path, uid_t uid, gid_t gid) {
    int root = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0) return -1;
    if (fchown(root, uid, gid) < 0) {
        int saved = errno;
        close(root);
        errno = saved;
        return -1;
    }
    return chown_directory(root, uid, gid, 0);
}

int bs_name_thread(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}
