#define _GNU_SOURCE
#include "bs_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

// Sent from the child over a close-on-exec pipe when a step fails; an exec that succeeds
// closes the pipe and the parent reads end-of-file.
typedef struct {
    int stage;
    int error;
} child_failure;

static void close_all_from(int first_fd, int keep_fd) {
    // close_range is Linux 5.9+; keep the failure pipe open until exec closes it.
    if (keep_fd >= first_fd) {
        if (keep_fd > first_fd) close_range((unsigned)first_fd, (unsigned)keep_fd - 1, 0);
        close_range((unsigned)keep_fd + 1, ~0U, 0);
    } else {
        close_range((unsigned)first_fd, ~0U, 0);
    }
}

static void write_failure(int fd, int stage, int error) {
    child_failure failure = {stage, error};
    ssize_t ignored = write(fd, &failure, sizeof failure);
    (void)ignored;
}

// Runs in the child between fork and exec: async-signal-safe calls only.
static void run_child(const bs_spawn_request *request, int devnull, int report_fd) {
    for (int signo = 1; signo < NSIG; signo++) {
        if (signo == SIGKILL || signo == SIGSTOP) continue;
        signal(signo, SIG_DFL);
    }
    sigset_t empty;
    sigemptyset(&empty);
    pthread_sigmask(SIG_SETMASK, &empty, NULL);

    if (setsid() < 0) { write_failure(report_fd, BS_SPAWN_STAGE_SETSID, errno); _exit(127); }

    // Move the descriptors above 2 first so that dup2 cannot clobber one we still need.
    if (dup2(devnull, 0) < 0 || dup2(request->stdout_fd, 1) < 0 || dup2(request->stderr_fd, 2) < 0) {
        write_failure(report_fd, BS_SPAWN_STAGE_STDIO, errno);
        _exit(127);
    }
    int report = report_fd;
    if (report <= 2) {
        report = fcntl(report_fd, F_DUPFD_CLOEXEC, 3);
    }
    close_all_from(3, report);

    if (request->change_ids) {
        if (setgroups(request->group_count, request->groups) < 0 || setgid(request->gid) < 0 ||
            setuid(request->uid) < 0) {
            write_failure(report, BS_SPAWN_STAGE_IDS, errno);
            _exit(127);
        }
    }
    if (chdir(request->cwd) < 0) { write_failure(report, BS_SPAWN_STAGE_CHDIR, errno); _exit(127); }

    execve(request->path, request->argv, request->envp);
    write_failure(report, BS_SPAWN_STAGE_EXEC, errno);
    _exit(127);
}

pid_t bs_spawn(const bs_spawn_request *request, bs_spawn_stage *stage, int *error) {
    *stage = BS_SPAWN_STAGE_NONE;
    *error = 0;

    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) { *stage = BS_SPAWN_STAGE_STDIO; *error = errno; return -1; }
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) { *stage = BS_SPAWN_STAGE_FORK; *error = errno; close(devnull); return -1; }

    // Block every signal across fork so no handler of the daemon runs in the child before it resets them.
    sigset_t all, old_mask;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old_mask);
    pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        run_child(request, devnull, report[1]);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    close(report[1]);
    close(devnull);

    if (pid < 0) {
        close(report[0]);
        *stage = BS_SPAWN_STAGE_FORK;
        *error = fork_errno;
        return -1;
    }

    child_failure failure;
    ssize_t got;
    do {
        got = read(report[0], &failure, sizeof failure);
    } while (got < 0 && errno == EINTR);
    close(report[0]);

    if (got == (ssize_t)sizeof failure) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *stage = (bs_spawn_stage)failure.stage;
        *error = failure.error;
        return -1;
    }
    return pid;
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
