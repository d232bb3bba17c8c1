/* Load generator for the token API benchmark (bench/token-api.sh).
 * Sends N HTTP/1.1 requests over a Unix socket, one connection per request (as the CLI and
 * most clients do), from T threads; prints requests/s and latency percentiles in µs.
 * usage: uds_load SOCKET PATH BODY THREADS REQUESTS_PER_THREAD */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path, *path, *body;
static int per_thread;
static double *lat;
static int failures;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int one(void) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, sock_path, sizeof a.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { close(fd); return -1; }
    char req[1024];
    int n = snprintf(req, sizeof req,
        "POST %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
        path, strlen(body), body);
    if (write(fd, req, n) != n) { close(fd); return -1; }
    char buf[8192];
    int total = 0, r;
    while ((r = read(fd, buf + total, sizeof buf - 1 - total)) > 0) total += r;
    close(fd);
    buf[total] = 0;
    return strncmp(buf, "HTTP/1.1 200", 12) == 0 && strstr(buf, "access_token") ? 0 : -1;
}

static void *worker(void *arg) {
    long t = (long)arg;
    for (int i = 0; i < per_thread; i++) {
        double s = now_us();
        if (one() < 0) __sync_fetch_and_add(&failures, 1);
        lat[t * per_thread + i] = now_us() - s;
    }
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: %s SOCKET PATH BODY THREADS REQUESTS\n", argv[0]); return 64; }
    sock_path = argv[1]; path = argv[2]; body = argv[3];
    int threads = atoi(argv[4]);
    per_thread = atoi(argv[5]);
    int total = threads * per_thread;
    lat = calloc(total, sizeof *lat);
    pthread_t tid[64];
    double start = now_us();
    for (long t = 0; t < threads; t++) pthread_create(&tid[t], NULL, worker, (void *)t);
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    double secs = (now_us() - start) / 1e6;
    qsort(lat, total, sizeof *lat, cmp);
    printf("requests=%d failures=%d rps=%.0f p50_us=%.1f p99_us=%.1f\n", total, failures, total / secs,
           lat[total / 2], lat[(int)(total * 0.99)]);
    return failures ? 1 : 0;
}
