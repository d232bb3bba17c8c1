/* The floor for the token API benchmark: a C server on a Unix socket that answers every
 * request with a fixed ~200-byte HTTP response (what our agent returns for a cached token),
 * one connection per request, one thread per core via accept() on a shared socket.
 * usage: uds_floor SOCKET */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int listener;
static const char resp[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 120\r\nConnection: close\r\n\r\n"
    "{\"access_token\":\"0123456789abcdef0123456789abcdef01234567\",\"connection\":\"bench\",\"expires_at\":1999999999,\"token_type\":\"Bearer\"}";

static void *serve(void *arg) {
    (void)arg;
    char buf[4096];
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) continue;
        int total = 0, r;
        while ((r = read(fd, buf + total, sizeof buf - 1 - total)) > 0) {
            total += r;
            buf[total] = 0;
            char *end = strstr(buf, "\r\n\r\n");
            if (!end) continue;
            char *cl = strcasestr(buf, "content-length:");
            int len = cl ? atoi(cl + 15) : 0;
            if (total >= (end - buf) + 4 + len) break;
        }
        write(fd, resp, sizeof resp - 1);
        close(fd);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) return 64;
    listener = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
    unlink(argv[1]);
    if (bind(listener, (struct sockaddr *)&a, sizeof a) < 0 || listen(listener, 512) < 0) { perror("bind"); return 1; }
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, serve, NULL);
    pthread_join(t[0], NULL);
    return 0;
}
