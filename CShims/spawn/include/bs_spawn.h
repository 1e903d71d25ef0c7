#ifndef BUILD_SERVICE_SPAWN_H
#define BUILD_SERVICE_SPAWN_H

#include <sys/types.h>
#include <stddef.h>

/// What a build's child process is started with. All pointers stay owned by the caller.
typedef struct {
    const char *path;           ///< absolute path of the executable (never looked up in PATH)
    char *const *argv;          ///< NULL-terminated; argv[0] included
    char *const *envp;          ///< NULL-terminated, the complete environment
    const char *cwd;            ///< directory to chdir into before exec
    int stdout_fd;              ///< becomes fd 1
    int stderr_fd;              ///< becomes fd 2
    int change_ids;             ///< non-zero: setgroups/setgid/setuid below before exec
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t group_count;
} bs_spawn_request;

/// Which step in the child failed, reported with the errno of that step.
typedef enum {
    BS_SPAWN_STAGE_NONE = 0,
    BS_SPAWN_STAGE_FORK,
    BS_SPAWN_STAGE_SETSID,
    BS_SPAWN_STAGE_STDIO,
    BS_SPAWN_STAGE_IDS,
    BS_SPAWN_STAGE_CHDIR,
    BS_SPAWN_STAGE_EXEC,
} bs_spawn_stage;

/// Starts the process in a new session (so it leads its own process group), with stdin on
/// /dev/null, every other inherited descriptor closed and all signal dispositions reset.
/// Returns the pid (> 0), or -1 with *stage and *error set; a failed child has already been reaped.
pid_t bs_spawn(const bs_spawn_request *request, bs_spawn_stage *stage, int *error);

#endif
