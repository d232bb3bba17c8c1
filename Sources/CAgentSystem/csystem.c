#include "csystem.h"
#include <errno.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

int csystem_realtime_timer_at(long long seconds, long nanoseconds) {
    int fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
    if (fd < 0) return -1;
    struct itimerspec spec = {0};
    spec.it_value.tv_sec = (time_t)seconds;
    spec.it_value.tv_nsec = nanoseconds;
    if (spec.it_value.tv_sec <= 0 && spec.it_value.tv_nsec <= 0) spec.it_value.tv_nsec = 1;
    if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int csystem_timer_fire_now(int fd) {
    struct itimerspec spec = {0};
    spec.it_value.tv_nsec = 1;
    return timerfd_settime(fd, 0, &spec, NULL);
}

int csystem_timer_wait(int fd) {
    uint64_t expirations = 0;
    for (;;) {
        ssize_t n = read(fd, &expirations, sizeof expirations);
        if (n == (ssize_t)sizeof expirations) return 0;
        if (n < 0 && errno == EINTR) continue;
        return -1;
    }
}

int csystem_set_not_dumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }

int csystem_is_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }
