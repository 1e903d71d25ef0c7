#define _GNU_SOURCE
#include "bs_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sched.h>
#include <sys/mman.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <assert.h>

// The child is started with clone(CLONE_VM | CLONE_VFORK), as glibc's posix_spawn does: it
// shares the daemon's memory and the calling thread sleeps until it has exec'd or exited, so
// starting a build costs the same whatever the daemon's size (fork would copy its page tables).
// Consequences for the child: only raw system calls (glibc's setuid/setgid would signal the
// daemon's threads to change their ids too), no allocation, and failures are reported by
// writing into the shared context before _exit.
//
// Under ThreadSanitizer or AddressSanitizer the child is started with fork instead: a child
// that runs on the daemon's memory calls into the sanitizer's runtime (through its
// interceptors) as if it were one more thread of the daemon, and the runtime aborts. fork lets
// the runtime prepare its state for the child; failures then travel back through a
// close-on-exec pipe, since the child's memory is its own.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define BS_SPAWN_WITH_FORK 1
#endif
#endif

typedef struct {
    const bs_spawn_request *request;
    int devnull;
    int stage;
    int error;
    int report_fd;  ///< with fork: the pipe the failed stage and errno are written to; else -1
} child_context;

static int fail(child_context *context, int stage) {
    context->stage = stage;
    context->error = errno;
    if (context->report_fd >= 0) {
        int report[2] = {stage, context->error};
        ssize_t ignored = write(context->report_fd, report, sizeof report);
        (void)ignored;
    }
    _exit(127);
}

/// Closes every descriptor from 3 up except `first` and `second` (either may be -1).
static void close_all_except(int first, int second) {
    if (first > second) { int swap = first; first = second; second = swap; }
    unsigned from = 3;
    int kept[2] = {first, second};
    for (int index = 0; index < 2; index++) {
        if (kept[index] < (int)from) continue;
        if (kept[index] > (int)from) close_range(from, (unsigned)kept[index] - 1, 0);
        from = (unsigned)kept[index] + 1;
    }
    close_range(from, ~0U, 0);
}

/// Copies the calling process's /proc/self/stat into `buffer`, NUL-terminated (empty if
/// unreadable). Raw system calls, as everywhere in the child: glibc's open and read are
/// cancellation points, which touch the (shared) calling thread's state.
static void read_own_stat(unsigned char *buffer, size_t size) {
    buffer[0] = '\0';
    long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    long count = syscall(SYS_read, fd, buffer, size - 1);
    syscall(SYS_close, fd);
    buffer[count > 0 ? count : 0] = '\0';
}

static int run_child(void *argument) {
    child_context *context = argument;
    const bs_spawn_request *request = context->request;

    // Dispositions first (the mask blocks everything meanwhile): an ignored signal stays
    // ignored across exec, and the daemon ignores SIGPIPE.
    struct sigaction default_action;
    memset(&default_action, 0, sizeof default_action);
    default_action.sa_handler = SIG_DFL;
    for (int signo = 1; signo < NSIG; signo++) {
        if (signo == SIGKILL || signo == SIGSTOP) continue;
        sigaction(signo, &default_action, NULL);  // EINVAL for glibc's internal signals: fine
    }
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);

#ifndef BS_SPAWN_WITH_FORK
    // (A forked child's memory is its own: the parent would never see the text.)
    if (request->own_stat != NULL && request->own_stat_size > 0) read_own_stat(request->own_stat, request->own_stat_size);
#endif
    if (setsid() < 0) fail(context, BS_SPAWN_STAGE_SETSID);
    int input = request->stdin_fd >= 0 ? request->stdin_fd : context->devnull;
    if (dup2(input, 0) < 0 || dup2(request->stdout_fd, 1) < 0 || dup2(request->stderr_fd, 2) < 0) {
        fail(context, BS_SPAWN_STAGE_STDIO);
    }
    // Everything else the daemon has open is closed; the validated working directory stays
    // for the check below, and the report pipe (both are close-on-exec).
    int keep = request->cwd_fd;
    close_all_except(keep, context->report_fd);

    for (size_t index = 0; index < request->limit_count; index++) {
        // Raw prlimit64: glibc's setrlimit is a plain wrapper too, but this states it.
        struct { unsigned long long soft, hard; } limit = {request->limit_soft[index], request->limit_hard[index]};
        if (syscall(SYS_prlimit64, 0, request->limit_resources[index], &limit, NULL) < 0) fail(context, BS_SPAWN_STAGE_LIMITS);
    }

    if (request->change_ids) {
        if (syscall(SYS_setgroups, request->group_count, request->groups) < 0 ||
            syscall(SYS_setresgid, request->gid, request->gid, request->gid) < 0 ||
            syscall(SYS_setresuid, request->uid, request->uid, request->uid) < 0) {
            fail(context, BS_SPAWN_STAGE_IDS);
        }
    }
    if (request->umask_bits >= 0) umask((mode_t)request->umask_bits);
    // As the build's user, by path: a directory it could not reach (one above it closed to
    // it) fails here. fchdir alone checks only the last directory, and would let the daemon's
    // rights carry the build past a closed one. The validated descriptor then proves the path
    // still names what was checked (a symlink swapped in meanwhile fails the build).
    if (chdir(request->cwd) < 0) fail(context, BS_SPAWN_STAGE_CHDIR);
    if (keep >= 0) {
        struct stat validated, entered;
        if (fstat(keep, &validated) < 0 || stat(".", &entered) < 0) fail(context, BS_SPAWN_STAGE_CHDIR);
        if (validated.st_dev != entered.st_dev || validated.st_ino != entered.st_ino) {
            errno = ESTALE;
            fail(context, BS_SPAWN_STAGE_CHDIR);
        }
    }

    execve(request->path, request->argv, request->envp);
    return fail(context, BS_SPAWN_STAGE_EXEC);
}

#ifdef BS_SPAWN_WITH_FORK
static pid_t spawn_with_fork(child_context *context, bs_spawn_stage *stage, int *error) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) {
        *stage = BS_SPAWN_STAGE_FORK; *error = errno; close(context->devnull); return -1;
    }
    sigset_t all, old_mask;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old_mask);
    pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        context->report_fd = report[1];
        run_child(context);
    }
    int fork_errno = errno;
    sigdelset(&old_mask, SIGCHLD);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    close(report[1]);
    close(context->devnull);
    if (pid < 0) {
        close(report[0]);
        *stage = BS_SPAWN_STAGE_FORK; *error = fork_errno; return -1;
    }
    int failure[2];
    ssize_t got;
    do { got = read(report[0], failure, sizeof failure); } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof failure) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *stage = (bs_spawn_stage)failure[0];
        *error = failure[1];
        return -1;
    }
    return pid;
}
#endif

#ifndef BS_SPAWN_WITH_FORK
static pid_t spawn_with_clone(child_context *context, bs_spawn_stage *stage, int *error) {
    // One child stack per thread, kept: with CLONE_VFORK this thread is suspended until the
    // child has exec'd, so the stack is never used by two children at once, and mapping and
    // unmapping it (with its page faults) on every build costs more than the build of a no-op.
    static __thread void *stack = NULL;
    const size_t stack_size = 256 * 1024;
    if (stack == NULL) {
        void *mapped = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (mapped == MAP_FAILED) { *stage = BS_SPAWN_STAGE_FORK; *error = errno; close(context->devnull); return -1; }
        stack = mapped;
    }

    // Block every signal so no handler of the daemon runs on the child's stack before it resets them.
    sigset_t all, old_mask;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old_mask);
    pid_t pid = clone(run_child, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, context);
    int clone_errno = errno;
    // The child's SIGCHLD goes to this thread (its parent). Blocked here, as in every thread
    // the daemon's runtime starts, the kernel cannot discard it as ignored: it would stay
    // pending for the whole process and wake the threads that wait for signals (the main
    // thread, libdispatch's signalfd), on the core about to send the build's last event.
    // Unblocked, SIGCHLD's default disposition drops it at once. Nothing here handles SIGCHLD.
    sigdelset(&old_mask, SIGCHLD);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    close(context->devnull);

    if (pid < 0) {
        *stage = BS_SPAWN_STAGE_FORK;
        *error = clone_errno;
        return -1;
    }
    if (context->stage != BS_SPAWN_STAGE_NONE) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *stage = (bs_spawn_stage)context->stage;
        *error = context->error;
        return -1;
    }
    return pid;
}
#endif

pid_t bs_spawn(const bs_spawn_request *request, bs_spawn_stage *stage, int *error) {
    *stage = BS_SPAWN_STAGE_NONE;
    *error = 0;

    child_context context = {request, -1, BS_SPAWN_STAGE_NONE, 0, -1};
    context.devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (context.devnull < 0) { *stage = BS_SPAWN_STAGE_STDIO; *error = errno; return -1; }
#ifdef BS_SPAWN_WITH_FORK
    return spawn_with_fork(&context, stage, error);
#else
    return spawn_with_clone(&context, stage, error);
#endif
}

int bs_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int bs_wait_terminated(pid_t pid, int peek, int *exit_code, int *signal_number) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int options = WEXITED | (peek ? WNOWAIT : 0);
    while (waitid(P_PID, (id_t)pid, &info, options) < 0) {
        if (errno != EINTR) return -1;
    }
    *exit_code = -1;
    *signal_number = -1;
    if (info.si_code == CLD_EXITED) {
        *exit_code = info.si_status;
    } else {
        *signal_number = info.si_status;
    }
    return 0;
}

int bs_bytes_readable(int fd) {
    int count = 0;
    if (ioctl(fd, FIONREAD, &count) < 0) return -1;
    return count;
}

int bs_pipe(int fds[2], int nonblocking) {
    return pipe2(fds, O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0));
}

int bs_process_group_has_live_members(pid_t pgid) {
    // getpgid() per pid is a cheap system call; reading /proc/<pid>/stat makes the kernel
    // format forty fields. This runs after every build, so it must stay cheap. The leader is
    // skipped: it is known dead (kept unreaped on purpose). Any other zombie of the group is
    // reaped by its parent or init within moments, so counting it only delays the check.
    DIR *proc = opendir("/proc");
    if (proc == NULL) return -1;
    int found = 0;
    struct dirent *entry;
    while (!found && (entry = readdir(proc)) != NULL) {
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
        pid_t pid = (pid_t)strtol(entry->d_name, NULL, 10);
        if (pid != pgid && getpgid(pid) == pgid) found = 1;
    }
    closedir(proc);
    return found;
}

// Linux 6.9: pidfd_send_signal to the process group whose id is the pidfd's process's pid.
#define BS_PIDFD_SIGNAL_PROCESS_GROUP (1U << 2)

int bs_pidfd_signal_group(int pidfd, int signal_number) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal_number, NULL, BS_PIDFD_SIGNAL_PROCESS_GROUP);
}

int bs_pidfd_group_signals_supported(void) {
    // Our own pid names no process group unless we lead one: ESRCH (or 0) means the kernel
    // knows the flag, EINVAL that it does not.
    int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (self < 0) return 0;
    int supported = bs_pidfd_signal_group(self, 0) == 0 || errno == ESRCH;
    close(self);
    return supported;
}

int bs_reap_pidfd(int pidfd) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid((idtype_t)3 /* P_PIDFD */, (id_t)pidfd, &info, WEXITED | WNOHANG) < 0) return -1;
    // WNOHANG on a process that has not exited yet succeeds without reaping anything.
    if (info.si_pid == 0) { errno = EAGAIN; return -1; }
    return 0;
}

int bs_set_pipe_size(int fd, int size) {
    return fcntl(fd, F_SETPIPE_SZ, size);
}

int bs_exit_watcher_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

int bs_exit_watcher_add(int watcher, int pidfd) {
    struct epoll_event event;
    memset(&event, 0, sizeof event);
    event.events = EPOLLIN | EPOLLONESHOT;
    event.data.fd = pidfd;
    return epoll_ctl(watcher, EPOLL_CTL_ADD, pidfd, &event);
}

int bs_exit_watcher_wait(int watcher, int *pidfds, int capacity) {
    struct epoll_event events[64];
    if (capacity > 64) capacity = 64;
    int count;
    do {
        count = epoll_wait(watcher, events, capacity, -1);
    } while (count < 0 && errno == EINTR);
    for (int index = 0; index < count; index++) {
        pidfds[index] = events[index].data.fd;
        epoll_ctl(watcher, EPOLL_CTL_DEL, events[index].data.fd, NULL);
    }
    return count;
}

int bs_exited_already(pid_t pid, int *exit_code, int *signal_number) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT | WNOHANG) < 0) return -1;
    if (info.si_pid == 0) return 0;
    *exit_code = -1;
    *signal_number = -1;
    if (info.si_code == CLD_EXITED) {
        *exit_code = info.si_status;
    } else {
        *signal_number = info.si_status;
    }
    return 1;
}

int bs_exited_pidfd(int pidfd, int *exit_code, int *signal_number) {
    // P_PIDFD (Linux 5.4+) names exactly this process, even if its pid was reaped and reused.
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid((idtype_t)3 /* P_PIDFD */, (id_t)pidfd, &info, WEXITED | WNOWAIT | WNOHANG) < 0) return -1;
    if (info.si_pid == 0) return 0;
    *exit_code = -1;
    *signal_number = -1;
    if (info.si_code == CLD_EXITED) {
        *exit_code = info.si_status;
    } else {
        *signal_number = info.si_status;
    }
    return 1;
}

int bs_terminated_usage(pid_t pid, bs_resources *usage) {
    // The raw system call has a fifth argument glibc's waitid hides: the rusage of the process
    // and of the children it waited for. With WNOWAIT the kernel fills it and leaves the zombie.
    siginfo_t info;
    struct rusage used;
    memset(&info, 0, sizeof info);
    memset(&used, 0, sizeof used);
    if (syscall(SYS_waitid, P_PID, pid, &info, WEXITED | WNOWAIT | WNOHANG, &used) < 0) return -1;
    if (info.si_pid == 0) return 0;
    usage->user_sec = (double)used.ru_utime.tv_sec + (double)used.ru_utime.tv_usec / 1e6;
    usage->system_sec = (double)used.ru_stime.tv_sec + (double)used.ru_stime.tv_usec / 1e6;
    usage->max_rss_kib = used.ru_maxrss;
    return 1;
}

