/*
 * Hanging collector: a server on 127.0.0.1 that accepts connections and reads
 * requests but never answers. Checks, against the real library:
 *   - tracker_send stays fast while the worker is stuck in a request;
 *   - tracker_destroy returns within shutdown_timeout_ms (+ slack);
 *   - an immediate tracker_create on the same directory succeeds;
 *   - no callback runs after tracker_destroy returns, and user_data can be
 *     freed right then (run under valgrind: a late callback is an invalid read);
 *   - the hit in flight stays stored for the next run.
 *
 * usage: hanging_collector STORAGE_DIR [SLACK_MS]
 * Exit status 0 on success; prints the measured figures.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "offtrack.h"

#define SHUTDOWN_MS 500
#define MAX_CONNS 64

static int failures = 0;
#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            failures++;                                               \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);      \
            fprintf(stderr, __VA_ARGS__);                             \
            fprintf(stderr, "\n");                                    \
        }                                                             \
    } while (0)

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------ the server */

static int listen_fd = -1;
static int conns[MAX_CONNS];
static atomic_int n_conns = 0;
static atomic_int stop_server = 0;

static void *serve(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_server)) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) break;
        int i = atomic_load(&n_conns);
        if (i < MAX_CONNS) {
            conns[i] = fd;
            atomic_store(&n_conns, i + 1);
        } else {
            close(fd);
        }
        /* Read what the client sends, answer nothing. */
        char buf[4096];
        struct timeval tv = {0, 100000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        (void)!read(fd, buf, sizeof buf);
    }
    return NULL;
}

static int start_server(void) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listen_fd, 16) != 0 || getsockname(listen_fd, (struct sockaddr *)&addr, &len) != 0) {
        perror("server");
        exit(2);
    }
    return ntohs(addr.sin_port);
}

/* ------------------------------------------------------------ events */

struct recorder {
    atomic_int events;
    atomic_int stored;
    atomic_int sent;
    atomic_int dropped;
    char last_reason[256];
};

static atomic_int destroy_returned = 0;
static atomic_int late_callbacks = 0;

static void on_event(const tracker_event *ev, void *user_data) {
    if (atomic_load(&destroy_returned)) atomic_fetch_add(&late_callbacks, 1);
    struct recorder *r = user_data; /* freed once destroy returned: valgrind flags a late call */
    atomic_fetch_add(&r->events, 1);
    if (ev->kind == TRACKER_EVENT_STORED) atomic_fetch_add(&r->stored, 1);
    if (ev->kind == TRACKER_EVENT_SENT) atomic_fetch_add(&r->sent, 1);
    if (ev->kind == TRACKER_EVENT_DROPPED) atomic_fetch_add(&r->dropped, 1);
    snprintf(r->last_reason, sizeof r->last_reason, "%s", ev->reason ? ev->reason : "");
}

/* ------------------------------------------------------------ the test */

static tracker *create(const char *config) {
    tracker *t = NULL;
    int32_t rc = tracker_create(config, &t);
    CHECK(rc == TRACKER_OK && t != NULL, "tracker_create: %s: %s", tracker_result_name(rc), tracker_last_error());
    return t;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s STORAGE_DIR [SLACK_MS]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    double slack = argc > 2 ? atof(argv[2]) : 300;
    int port = start_server();
    pthread_t server;
    pthread_create(&server, NULL, serve, NULL);

    char config[1024];
    snprintf(config, sizeof config,
             "{\"endpoint\":\"http://127.0.0.1:%d/hit\",\"storage\":\"required\","
             "\"storage_path\":\"%s\",\"request_timeout_seconds\":30,"
             "\"shutdown_timeout_ms\":%d,\"retry_base_ms\":50,\"retry_max_ms\":200}",
             port, dir, SHUTDOWN_MS);

    tracker *t = create(config);
    if (!t) return 1;
    struct recorder *rec = calloc(1, sizeof *rec);
    CHECK(tracker_set_event_callback(t, on_event, rec) == TRACKER_OK, "set callback");

    /* The first hit sends the worker into a request that never gets an answer. */
    CHECK(tracker_send(t, "n=0") == TRACKER_OK, "send n=0: %s", tracker_last_error());
    double wait_until = now_ms() + 5000;
    while (atomic_load(&n_conns) == 0 && now_ms() < wait_until) usleep(1000);
    CHECK(atomic_load(&n_conns) >= 1, "the worker never connected to the hanging collector");

    double max_send = 0, total_send = 0;
    const int hits = 200;
    for (int i = 1; i <= hits; i++) {
        char hit[64];
        snprintf(hit, sizeof hit, "n=%d", i);
        double t0 = now_ms();
        int32_t rc = tracker_send(t, hit);
        double dt = now_ms() - t0;
        CHECK(rc == TRACKER_OK, "send %s: %s %s", hit, tracker_result_name(rc), tracker_last_error());
        if (dt > max_send) max_send = dt;
        total_send += dt;
    }
    /* Stuck in a request: the calls below must not wait for it either. */
    uint64_t count = 0;
    double t0 = now_ms();
    CHECK(tracker_dispatch(t) == TRACKER_OK, "dispatch");
    CHECK(tracker_offline_count(t, &count) == TRACKER_OK, "offline_count");
    char *stats = NULL;
    CHECK(tracker_stats(t, &stats) == TRACKER_OK, "stats");
    tracker_string_free(stats);
    double other_calls = now_ms() - t0;
    CHECK(count == (uint64_t)hits + 1, "offline_count %llu, expected %d", (unsigned long long)count, hits + 1);
    CHECK(tracker_flush(t, 100) == TRACKER_ERROR_TIMEOUT, "flush against a hanging collector must time out");

    t0 = now_ms();
    tracker_destroy(t);
    double destroy_ms = now_ms() - t0;
    atomic_store(&destroy_returned, 1);
    int events_at_destroy = atomic_load(&rec->events);
    free(rec); /* allowed once destroy returned: no callback may use it any more */

    CHECK(destroy_ms <= SHUTDOWN_MS + slack, "tracker_destroy took %.0f ms (shutdown_timeout_ms %d, slack %.0f)",
          destroy_ms, SHUTDOWN_MS, slack);

    /* Immediate re-create on the same directory. */
    t0 = now_ms();
    tracker *t2 = create(config);
    double recreate_ms = now_ms() - t0;
    if (t2) {
        uint64_t left = 0;
        CHECK(tracker_offline_count(t2, &left) == TRACKER_OK, "offline_count after re-create");
        CHECK(left == (uint64_t)hits + 1, "%llu hits stored after re-create, expected %d (in flight stays stored)",
              (unsigned long long)left, hits + 1);
        tracker_destroy(t2);
    }

    /* Let the stuck request end now (connections closed): the old worker wakes
     * up, and must neither call back nor touch freed memory. */
    usleep(300 * 1000);
    atomic_store(&stop_server, 1);
    shutdown(listen_fd, SHUT_RDWR);
    close(listen_fd);
    pthread_join(server, NULL);
    for (int i = 0; i < atomic_load(&n_conns); i++) close(conns[i]);
    usleep(1500 * 1000);

    CHECK(atomic_load(&late_callbacks) == 0, "%d callbacks after tracker_destroy returned", atomic_load(&late_callbacks));

    printf("FIGURE hanging_collector send_max_ms=%.2f send_avg_ms=%.3f other_calls_ms=%.2f destroy_ms=%.0f "
           "shutdown_timeout_ms=%d recreate_ms=%.1f events_before_destroy=%d late_callbacks=%d connections=%d\n",
           max_send, total_send / hits, other_calls, destroy_ms, SHUTDOWN_MS, recreate_ms, events_at_destroy,
           atomic_load(&late_callbacks), atomic_load(&n_conns));
    /* "Fast": never near the request timeout (30 s) nor the shutdown timeout. */
    CHECK(max_send < 250, "a tracker_send took %.1f ms while the worker hung", max_send);
    CHECK(other_calls < 250, "dispatch/offline_count/stats took %.1f ms while the worker hung", other_calls);
    if (failures) {
        fprintf(stderr, "hanging_collector: %d check(s) FAILED\n", failures);
        return 1;
    }
    printf("hanging_collector: OK\n");
    return 0;
}
