// Linux system calls that Swift cannot reach through Glibc's module: timerfd (sys/timerfd.h
// is not in the Glibc module map), prctl (variadic), posix_spawn with the file actions
// and attributes a child of the agent needs, and epoll, eventfd and the socket calls of the
// proxy's fast lane (struct epoll_event is packed on x86-64, which Swift does not import
// faithfully). Nothing else lives here.
#ifndef JIRA_AUTH_AGENT_CSYSTEM_H
#define JIRA_AUTH_AGENT_CSYSTEM_H
#include <time.h>

/// A CLOCK_REALTIME timerfd (close-on-exec) armed to fire once at the absolute time
/// `seconds`.`nanoseconds`; returns the descriptor or -1 (errno set).
int csystem_realtime_timer_at(long long seconds, long nanoseconds);
/// Makes a pending timerfd fire now (cancellation). Returns 0 or -1.
int csystem_timer_fire_now(int fd);
/// Blocks until the timerfd fires (retrying on EINTR). Returns 0 or -1.
int csystem_timer_wait(int fd);
/// prctl(PR_SET_DUMPABLE, 0): no core dumps, no ptrace by other same-user processes.
int csystem_set_not_dumpable(void);
/// Whether the process is dumpable (1), not (0), or -1 on error.
int csystem_is_dumpable(void);
/// Names the calling thread (prctl PR_SET_NAME; 15 bytes kept). Returns 0 or -1.
int csystem_set_thread_name(const char *name);
/// Starts `path` (argv, envp: NULL-terminated) with stdin, stdout and stderr on /dev/null,
/// every other descriptor closed, default signal mask and dispositions, in a session of its
/// own; does not wait. Returns the child's pid, or -1 with errno set (also when the program
/// cannot be executed).
int csystem_spawn(const char *path, char *const argv[], char *const envp[]);

#endif

