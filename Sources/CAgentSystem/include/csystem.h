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

#include <stdint.h>

/// epoll_create1(EPOLL_CLOEXEC).
int csystem_epoll_create(void);
/// epoll_ctl: `op` 1 add, 2 delete, 3 modify (EPOLL_CTL_*); `events` a mask of
/// CSYSTEM_EPOLL_* below; `data` comes back with each event.
int csystem_epoll_control(int ep, int op, int fd, uint32_t events, uint64_t data);
/// epoll_wait into two arrays of `max` entries; returns the count, 0, or -1 (errno set).
int csystem_epoll_wait(int ep, uint64_t *data, uint32_t *events, int max, int timeout_ms);
#define CSYSTEM_EPOLL_IN 0x001u
#define CSYSTEM_EPOLL_OUT 0x004u
#define CSYSTEM_EPOLL_ERR 0x008u
#define CSYSTEM_EPOLL_HUP 0x010u
#define CSYSTEM_EPOLL_RDHUP 0x2000u
/// A non-blocking, close-on-exec eventfd.
int csystem_eventfd(void);
/// Adds 1 to an eventfd (a wake-up). Returns 0 or -1.
int csystem_eventfd_signal(int fd);
/// Reads an eventfd back to zero.
void csystem_eventfd_drain(int fd);
/// A non-blocking TCP socket listening on 127.0.0.1:`port` (0: any free port) with
/// SO_REUSEADDR; returns the descriptor or -1 (errno set).
int csystem_tcp_listen_loopback(int port, int backlog);
/// The local port of a bound socket, or -1.
int csystem_local_port(int fd);
/// accept4 (non-blocking, close-on-exec) with TCP_NODELAY set; -1 with errno EAGAIN when
/// no connection waits.
int csystem_tcp_accept(int listener);
/// Starts a non-blocking TCP connection to the numeric address `ip` (IPv4 or IPv6) and
/// `port`, TCP_NODELAY set. Returns the descriptor (`*pending` 1 while the connection is
/// in progress: wait for writability, then csystem_socket_error) or -1 (errno set;
/// EINVAL for an address that is not numeric).
int csystem_tcp_connect(const char *ip, int port, int *pending);
/// SO_ERROR of a socket (0: none), or -1.
int csystem_socket_error(int fd);
/// send(2) with MSG_NOSIGNAL: a peer that went away is EPIPE, not SIGPIPE.
long csystem_send(int fd, const void *bytes, unsigned long count);
/// sendmsg(2) of `count` (at most 64) buffers with MSG_NOSIGNAL.
long csystem_sendv(int fd, const void *const *bases, const unsigned long *lengths, int count);
#endif
