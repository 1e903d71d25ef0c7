#ifndef BUILD_SERVICE_SPAWN_H
#define BUILD_SERVICE_SPAWN_H

#include <sys/types.h>
#include <stddef.h>

/// What a build's child process is started with. All pointers stay owned by the caller.
typedef struct {
    const char *path;           ///< absolute path of the executable (never looked up in PATH)
    char *const *argv;          ///< NULL-terminated; argv[0] included
    char *const *envp;          ///< NULL-terminated, the complete environment
    const char *cwd;            ///< directory to chdir into before exec, as the build's user
    int cwd_fd;                 ///< >= 0: the validated directory, which `cwd` must still name
    int stdin_fd;               ///< >= 0: becomes fd 0; -1: /dev/null
    int stdout_fd;              ///< becomes fd 1
    int stderr_fd;              ///< becomes fd 2
    int change_ids;             ///< non-zero: setgroups/setgid/setuid below before exec
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t group_count;
    int umask_bits;             ///< >= 0: the child's umask; -1 keeps the daemon's
    const int *limit_resources; ///< RLIMIT_* numbers set before the ids change, with
    const unsigned long long *limit_soft;  ///< their soft and
    const unsigned long long *limit_hard;  ///< hard limits
    size_t limit_count;
    /// When set: the child reads its /proc/self/stat into this buffer of `own_stat_size` bytes
    /// before it execs, NUL-terminated (empty when unreadable): its start time, which the parent
    /// reading the file would have to wait for (the kernel holds the exec lock until exec ends).
    unsigned char *own_stat;
    size_t own_stat_size;
} bs_spawn_request;

/// The RLIMIT_* numbers (Swift cannot see glibc's enum values under their names).
enum {
    BS_RLIMIT_CPU = 0, BS_RLIMIT_FSIZE = 1, BS_RLIMIT_CORE = 4, BS_RLIMIT_NPROC = 6,
    BS_RLIMIT_NOFILE = 7, BS_RLIMIT_AS = 9,
};

/// Which step in the child failed, reported with the errno of that step.
typedef enum {
    BS_SPAWN_STAGE_NONE = 0,
    BS_SPAWN_STAGE_FORK,
    BS_SPAWN_STAGE_SETSID,
    BS_SPAWN_STAGE_STDIO,
    BS_SPAWN_STAGE_IDS,
    BS_SPAWN_STAGE_LIMITS,
    BS_SPAWN_STAGE_CHDIR,
    BS_SPAWN_STAGE_EXEC,
} bs_spawn_stage;

/// Starts the process in a new session (so it leads its own process group), with stdin on
/// /dev/null unless stdin_fd says otherwise, every other inherited descriptor closed and all signal dispositions reset.
/// Returns the pid (> 0), or -1 with *stage and *error set; a failed child has already been reaped.
pid_t bs_spawn(const bs_spawn_request *request, bs_spawn_stage *stage, int *error);

/// A pidfd for `pid` (readable once the process has terminated), or -1 with errno set.
int bs_pidfd_open(pid_t pid);

/// Blocks until `pid` has terminated. With `peek` non-zero the process is left unreaped (a
/// zombie), which keeps its pid, and so its process group id, from being reused meanwhile.
/// Returns 0 and sets exactly one of *exit_code / *signal_number (the other is -1), or -1 on error.
int bs_wait_terminated(pid_t pid, int peek, int *exit_code, int *signal_number);

/// pipe2(O_CLOEXEC), optionally O_NONBLOCK too (glibc hides pipe2 from Swift). 0 or -1.
int bs_pipe(int fds[2], int nonblocking);

/// 1 when a process other than the group's leader is in process group `pgid`, 0 when none
/// is, -1 when /proc cannot be read. Only meaningful once the leader has exited.
int bs_process_group_has_live_members(pid_t pgid);

/// Sends `signal_number` (0: only checks) to every process in the process group whose id is
/// the pid of `pidfd`'s process, even once that process has been reaped: the pidfd, not the
/// number, names the group, so a reused pid is never hit. 0, or -1 with errno (ESRCH: the group
/// is empty; EINVAL: the kernel is older than 6.9).
int bs_pidfd_signal_group(int pidfd, int signal_number);

/// 1 when the kernel supports bs_pidfd_signal_group, else 0.
int bs_pidfd_group_signals_supported(void);

/// Reaps the terminated process behind `pidfd` without blocking. 0 once reaped, else -1 (errno;
/// EAGAIN while it has not exited).
int bs_reap_pidfd(int pidfd);

/// F_SETPIPE_SZ (Swift cannot see the constant). Returns the new size or -1.
int bs_set_pipe_size(int fd, int size);

/// An epoll instance that reports pidfds becoming readable (their process exited).
int bs_exit_watcher_create(void);
/// Watches `pidfd` for one exit (one-shot). 0 or -1.
int bs_exit_watcher_add(int watcher, int pidfd);
/// Blocks until at least one watched process exited; stores their pidfds (no longer watched)
/// and returns how many, or -1.
int bs_exit_watcher_wait(int watcher, int *pidfds, int capacity);

/// Like bs_wait_terminated with peek, but without blocking: 1 when `pid` has terminated (and
/// one of *exit_code / *signal_number is set), 0 when it is still running, -1 on error.
int bs_exited_already(pid_t pid, int *exit_code, int *signal_number);

/// Like bs_exited_already, for the process behind `pidfd` (exact even after pid reuse).
int bs_exited_pidfd(int pidfd, int *exit_code, int *signal_number);

/// What a terminated process and the children it waited for used (from waitid's rusage).
typedef struct {
    double user_sec;
    double system_sec;
    long max_rss_kib;
} bs_resources;

/// What the terminated, still unreaped child `pid` used. 1 when filled, 0 when it has not
/// terminated, -1 on error.
int bs_terminated_usage(pid_t pid, bs_resources *usage);

/// Bytes waiting to be read from a pipe, or -1.
int bs_bytes_readable(int fd);

#endif
