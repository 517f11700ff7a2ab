/*
 * End-to-end test of the Offtrack C API against a real HTTP collector.
 *
 * The collector is a thread in this process serving 127.0.0.1 on an ephemeral
 * port. Its socket is bound from the start but only starts listening when the
 * test says so: until then a connection to the port is refused, which is how
 * "collector down" is simulated without any race for the port number.
 *
 * Build: gcc -std=c99 -Wall -Wextra -Werror -pedantic -I include \
 *        tests/c/test_offtrack.c -L target/release -lofftrack \
 *        -Wl,-rpath,$PWD/target/release -lpthread -ldl -lm
 * (tests/c/run.sh; also for Windows with mingw-w64, run under Wine, and for
 * aarch64, run under qemu: `make test-windows`, `make test-aarch64`).
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, strdup, nanosleep, sigaction */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "platform.h"

#include "offtrack.h"

/* Every library call is bounded, so a hang is a bug: fail loudly instead. */
#define WATCHDOG_SECONDS 120
#define FLUSH_MS 10000u
#define WAIT_MS 5000

/* ------------------------------------------------------------------ checks */

static int g_passed;
static int g_failed;

static void check_impl(bool ok, const char *expr, const char *file, int line,
                       const char *fmt, ...) {
    if (ok) {
        g_passed++;
        return;
    }
    g_failed++;
    fprintf(stderr, "FAIL %s:%d: %s", file, line, expr);
    if (fmt != NULL && fmt[0] != '\0') {
        va_list ap;
        va_start(ap, fmt);
        fputs(" -- ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
}

#define CHECK(cond) check_impl((cond), #cond, __FILE__, __LINE__, NULL)
#define CHECKF(cond, ...) check_impl((cond), #cond, __FILE__, __LINE__, __VA_ARGS__)

/* Compare a result code and report both names plus the thread's last error. */
#define CHECK_RC(call, expected)                                                \
    do {                                                                        \
        int32_t rc_ = (call);                                                   \
        int32_t ex_ = (expected);                                               \
        check_impl(rc_ == ex_, #call, __FILE__, __LINE__,                       \
                   "got %d (%s), expected %d (%s); last_error: %s", (int)rc_,   \
                   safe_name(rc_), (int)ex_, safe_name(ex_),                    \
                   safe_str(tracker_last_error()));                             \
    } while (0)

static const char *safe_str(const char *s) { return s != NULL ? s : "(null)"; }
static const char *safe_name(int32_t rc) { return safe_str(tracker_result_name(rc)); }

static void section(const char *name) { printf("== %s\n", name); fflush(stdout); }

/* ------------------------------------------------------------------- utils */

/* Value of query parameter `key` in a request line or URL, copied into out. */
static bool query_param(const char *url, const char *key, char *out, size_t cap) {
    const char *q = strchr(url, '?');
    size_t klen = strlen(key);
    if (q == NULL) return false;
    q++;
    while (*q != '\0' && *q != ' ') {
        const char *end = q;
        while (*end != '\0' && *end != '&' && *end != ' ') end++;
        if ((size_t)(end - q) > klen && strncmp(q, key, klen) == 0 && q[klen] == '=') {
            size_t n = (size_t)(end - q) - klen - 1;
            if (n >= cap) n = cap - 1;
            memcpy(out, q + klen + 1, n);
            out[n] = '\0';
            return true;
        }
        q = (*end == '&') ? end + 1 : end;
    }
    return false;
}

static bool parse_u64(const char *s, unsigned long long *out) {
    char *end = NULL;
    if (s == NULL || *s == '\0') return false;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && end != NULL && *end == '\0';
}

/* -------------------------------------------------------------- collector */

#define MAX_REQUESTS 64

typedef struct {
    sock_t fd;
    int port;
    bool listening;
    pthread_t thread;
    pthread_mutex_t mu;
    bool stop;
    int count;
    char *lines[MAX_REQUESTS]; /* request lines, e.g. "GET /collect?a=1 HTTP/1.1" */
} collector;

static void collector_serve_one(collector *c, sock_t cfd) {
    static const char reply[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    char buf[16384];
    size_t len = 0;
    sock_timeouts(cfd, 2);
    while (len < sizeof buf - 1) {
        ssize_t_compat n = recv(cfd, buf + len, (int)(sizeof buf - 1 - len), 0);
        if (n <= 0) break;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL) break;
    }
    buf[len] = '\0';
    if (len > 0) {
        char *eol = strstr(buf, "\r\n");
        if (eol != NULL) *eol = '\0';
        pthread_mutex_lock(&c->mu);
        if (c->count < MAX_REQUESTS) c->lines[c->count++] = strdup(buf);
        pthread_mutex_unlock(&c->mu);
        if (send(cfd, reply, (int)(sizeof reply - 1), MSG_NOSIGNAL) < 0) {
            /* the client went away; the request is recorded anyway */
        }
    }
    sock_close(cfd);
}

static void *collector_main(void *arg) {
    collector *c = arg;
    for (;;) {
        bool stop;
        pthread_mutex_lock(&c->mu);
        stop = c->stop;
        pthread_mutex_unlock(&c->mu);
        if (stop) break;
        if (sock_readable(c->fd, 50)) {
            sock_t cfd = accept(c->fd, NULL, NULL);
            if (cfd != BAD_SOCKET) collector_serve_one(c, cfd);
        }
    }
    return NULL;
}

/* Bound but not listening: connections to the port are refused. */
static bool collector_init(collector *c) {
    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    int one = 1;
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd == BAD_SOCKET) return false;
    setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, (const char *)&one, sizeof one);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) return false;
    if (getsockname(c->fd, (struct sockaddr *)&addr, &alen) != 0) return false;
    c->port = ntohs(addr.sin_port);
    return true;
}

static bool collector_start(collector *c) {
    if (listen(c->fd, 16) != 0) return false;
    if (pthread_create(&c->thread, NULL, collector_main, c) != 0) return false;
    c->listening = true;
    return true;
}

static void collector_close(collector *c) {
    int i;
    if (c->listening) {
        pthread_mutex_lock(&c->mu);
        c->stop = true;
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
    }
    if (c->fd != BAD_SOCKET) sock_close(c->fd);
    for (i = 0; i < c->count; i++) free(c->lines[i]);
    pthread_mutex_destroy(&c->mu);
}

static int collector_count(collector *c) {
    int n;
    pthread_mutex_lock(&c->mu);
    n = c->count;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static bool collector_wait(collector *c, int n, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    while (collector_count(c) < n) {
        if (now_ms() > deadline) return false;
        sleep_ms(10);
    }
    return true;
}

/* The request line of request i (stable once recorded). */
static const char *collector_line(collector *c, int i) {
    const char *s = NULL;
    pthread_mutex_lock(&c->mu);
    if (i >= 0 && i < c->count) s = c->lines[i];
    pthread_mutex_unlock(&c->mu);
    return s != NULL ? s : "";
}

/* ----------------------------------------------------------------- events */

#define MAX_EVENTS 128

typedef struct {
    int32_t kind;
    uint64_t id;
    char *hit;
    int32_t http_status;
    char *reason;
} recorded_event;

typedef struct {
    pthread_mutex_t mu;
    int count;
    int per_kind[3];
    int bad_kind;
    recorded_event ev[MAX_EVENTS];
} event_log;

static void on_event(const tracker_event *e, void *user_data) {
    event_log *log = user_data;
    pthread_mutex_lock(&log->mu);
    if (e->kind >= 0 && e->kind <= 2) {
        log->per_kind[e->kind]++;
    } else {
        log->bad_kind++;
    }
    if (log->count < MAX_EVENTS) {
        recorded_event *r = &log->ev[log->count++];
        r->kind = e->kind;
        r->id = e->id;
        r->hit = strdup(e->hit != NULL ? e->hit : "(null)");
        r->http_status = e->http_status;
        r->reason = strdup(e->reason != NULL ? e->reason : "(null)");
    }
    pthread_mutex_unlock(&log->mu);
}

static void event_log_init(event_log *log) {
    memset(log, 0, sizeof *log);
    pthread_mutex_init(&log->mu, NULL);
}

static void event_log_free(event_log *log) {
    int i;
    for (i = 0; i < log->count; i++) {
        free(log->ev[i].hit);
        free(log->ev[i].reason);
    }
    pthread_mutex_destroy(&log->mu);
}

static int event_kind_count(event_log *log, int kind) {
    int n;
    pthread_mutex_lock(&log->mu);
    n = log->per_kind[kind];
    pthread_mutex_unlock(&log->mu);
    return n;
}

/* Callbacks run on the worker; give them a bounded moment to land. */
static bool event_wait(event_log *log, int kind, int n, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    while (event_kind_count(log, kind) < n) {
        if (now_ms() > deadline) return false;
        sleep_ms(10);
    }
    return true;
}

/* ---------------------------------------------------------------- helpers */

static uint64_t offline_count(tracker *t) {
    uint64_t n = UINT64_MAX;
    CHECK_RC(tracker_offline_count(t, &n), TRACKER_OK);
    return n;
}

/* Position of `needle` in `hay`, or -1. */
static long pos_of(const char *hay, const char *needle) {
    const char *p = (hay != NULL) ? strstr(hay, needle) : NULL;
    return p != NULL ? (long)(p - hay) : -1;
}

static char g_tmp_root[1024];

/* A path inside the test's temporary root that does not exist yet. */
static void store_path(char *out, size_t cap, const char *name) {
    int n = snprintf(out, cap, "%s/%s", g_tmp_root, name);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "temporary path too long\n");
        exit(2);
    }
}

static tracker *create_ok(const char *config) {
    tracker *t = NULL;
    CHECK_RC(tracker_create(config, &t), TRACKER_OK);
    CHECK(t != NULL);
    return t;
}

/* ------------------------------------------------------------------ tests */

static void test_static_strings(void) {
    const char *v = tracker_version();
    const char *err;
    section("version and result names");
    err = tracker_last_error();
    CHECKF(err != NULL && err[0] == '\0', "last_error before any failure: '%s'", safe_str(err));
    CHECK(v != NULL && v[0] != '\0');
    CHECKF(v != NULL && strchr(v, '.') != NULL, "version '%s'", safe_str(v));
    CHECK(tracker_version() == v || strcmp(tracker_version(), v) == 0);
    CHECK(strcmp(safe_name(TRACKER_OK), "TRACKER_OK") == 0);
    CHECK(strcmp(safe_name(TRACKER_ERROR_NULL_ARGUMENT), "TRACKER_ERROR_NULL_ARGUMENT") == 0);
    CHECK(strcmp(safe_name(TRACKER_ERROR_INVALID_ARGUMENT), "TRACKER_ERROR_INVALID_ARGUMENT") == 0);
    CHECK(strcmp(safe_name(TRACKER_ERROR_CONFIG), "TRACKER_ERROR_CONFIG") == 0);
    CHECK(strcmp(safe_name(TRACKER_ERROR_STORAGE), "TRACKER_ERROR_STORAGE") == 0);
    CHECK(strcmp(safe_name(TRACKER_ERROR_LOCKED), "TRACKER_ERROR_LOCKED") == 0);
    CHECK(strcmp(safe_name(TRACKER_ERROR_TIMEOUT), "TRACKER_ERROR_TIMEOUT") == 0);
    CHECK(strcmp(safe_name(TRACKER_ERROR_CLOSED), "TRACKER_ERROR_CLOSED") == 0);
    CHECK(strcmp(safe_name(TRACKER_ERROR_PANIC), "TRACKER_ERROR_PANIC") == 0);
    CHECK(tracker_result_name(12345) != NULL);
    CHECK(tracker_result_name(-1) != NULL);
    /* The values are part of the ABI. */
    CHECK(TRACKER_OK == 0 && TRACKER_ERROR_NULL_ARGUMENT == 1 &&
          TRACKER_ERROR_INVALID_ARGUMENT == 2 && TRACKER_ERROR_CONFIG == 3 &&
          TRACKER_ERROR_STORAGE == 4 && TRACKER_ERROR_LOCKED == 5 &&
          TRACKER_ERROR_TIMEOUT == 6 && TRACKER_ERROR_CLOSED == 7 &&
          TRACKER_ERROR_PANIC == 8);
    CHECK(TRACKER_STORAGE_NEVER == 0 && TRACKER_STORAGE_REQUIRED == 1 &&
          TRACKER_STORAGE_ALWAYS == 2);
    CHECK(TRACKER_EVENT_SENT == 0 && TRACKER_EVENT_STORED == 1 && TRACKER_EVENT_DROPPED == 2);
}

static void expect_config_error(const char *config, const char *must_mention) {
    tracker *t = NULL;
    const char *err;
    CHECK_RC(tracker_create(config, &t), TRACKER_ERROR_CONFIG);
    CHECKF(t == NULL, "config %s produced a tracker", config);
    err = tracker_last_error();
    CHECKF(err != NULL && err[0] != '\0', "empty last_error for config %s", config);
    if (must_mention != NULL) {
        CHECKF(err != NULL && strstr(err, must_mention) != NULL,
               "last_error '%s' does not name '%s'", safe_str(err), must_mention);
    }
    if (t != NULL) tracker_destroy(t);
}

static void test_bad_config(void) {
    char dir[PATH_MAX];
    char cfg[PATH_MAX + 256];
    section("bad configuration");
    store_path(dir, sizeof dir, "badcfg");
    expect_config_error("{not json", NULL);
    expect_config_error("{}", "endpoint");
    expect_config_error("{\"endpoint\": \"http://127.0.0.1:9/c\", \"no_such_key\": 1}",
                        "no_such_key");
    expect_config_error("{\"endpoint\": \"ftp://127.0.0.1:9/c\"}", NULL);
    expect_config_error("{\"endpoint\": \"http://127.0.0.1:9/c\", \"storage\": \"sometimes\"}",
                        "storage");
    /* required mode needs somewhere to store */
    expect_config_error("{\"endpoint\": \"http://127.0.0.1:9/c\", \"storage\": \"required\"}",
                        NULL);
    snprintf(cfg, sizeof cfg,
             "{\"endpoint\": \"http://127.0.0.1:9/c\", \"storage_path\": \"%s\", "
             "\"max_attempts\": \"three\"}",
             dir);
    expect_config_error(cfg, "max_attempts");
    expect_config_error("{\"endpoint\": \"http://127.0.0.1:9/c\", \"consent\": \"maybe\"}",
                        "consent");
    expect_config_error("{\"endpoint\": \"http://127.0.0.1:9/c\", \"consent\": 1}", "consent");
}

static void test_null_and_invalid_arguments(void) {
    tracker *t;
    uint64_t n = 0;
    int32_t mode = -1;
    int32_t consent = -1;
    char *json = NULL;
    const char *err;
    section("NULL and invalid arguments");

    CHECK_RC(tracker_create(NULL, &t), TRACKER_ERROR_NULL_ARGUMENT);
    err = tracker_last_error();
    CHECK(err != NULL && err[0] != '\0');
    CHECK_RC(tracker_create("{\"endpoint\": \"http://127.0.0.1:9/c\"}", NULL),
             TRACKER_ERROR_NULL_ARGUMENT);

    CHECK_RC(tracker_send(NULL, "a=1"), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_dispatch(NULL), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_flush(NULL, 100), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_set_storage(NULL, TRACKER_STORAGE_NEVER), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_get_storage(NULL, &mode), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_set_online(NULL, true), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_set_opt_out(NULL, false), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_set_consent(NULL, TRACKER_CONSENT_GRANTED), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_get_consent(NULL, &consent), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_offline_count(NULL, &n), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_offline_get(NULL, 10, &json), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_offline_oldest(NULL, &json), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_offline_latest(NULL, &json), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_offline_delete(NULL, &n), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_offline_delete_older_than(NULL, 1, &n), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_stats(NULL, &json), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_set_event_callback(NULL, on_event, NULL), TRACKER_ERROR_NULL_ARGUMENT);

    /* destroy and string_free accept NULL */
    tracker_destroy(NULL);
    tracker_string_free(NULL);
    CHECK(1); /* reaching here means neither crashed */

    t = create_ok("{\"endpoint\": \"http://127.0.0.1:9/c\"}");
    if (t == NULL) return;
    CHECK_RC(tracker_send(t, NULL), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_get_storage(t, NULL), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_get_consent(t, NULL), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_offline_count(t, NULL), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_offline_get(t, 10, NULL), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_offline_oldest(t, NULL), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_offline_latest(t, NULL), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_stats(t, NULL), TRACKER_ERROR_NULL_ARGUMENT);
    /* out_deleted is optional */
    CHECK_RC(tracker_offline_delete(t, NULL), TRACKER_OK);

    /* out-of-range enums are rejected and leave the mode alone */
    CHECK_RC(tracker_set_storage(t, 3), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_RC(tracker_set_storage(t, -1), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_RC(tracker_set_storage(t, INT32_MAX), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_RC(tracker_get_storage(t, &mode), TRACKER_OK);
    CHECK(mode == TRACKER_STORAGE_NEVER);
    CHECK(TRACKER_CONSENT_GRANTED == 0 && TRACKER_CONSENT_PENDING == 1 &&
          TRACKER_CONSENT_DENIED == 2);
    CHECK_RC(tracker_set_consent(t, TRACKER_CONSENT_PENDING), TRACKER_OK);
    CHECK_RC(tracker_set_consent(t, 3), TRACKER_ERROR_INVALID_ARGUMENT);
    err = tracker_last_error();
    CHECKF(err != NULL && strstr(err, "tracker_set_consent") != NULL, "last_error: %s",
           safe_str(err));
    CHECK_RC(tracker_set_consent(t, -1), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_RC(tracker_set_consent(t, INT32_MAX), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_RC(tracker_get_consent(t, &consent), TRACKER_OK);
    CHECK(consent == TRACKER_CONSENT_PENDING);
    CHECK_RC(tracker_set_consent(t, TRACKER_CONSENT_GRANTED), TRACKER_OK);
    CHECK_RC(tracker_get_consent(t, &consent), TRACKER_OK);
    CHECK(consent == TRACKER_CONSENT_GRANTED);
    /* no storage_path: the stored modes are a configuration error */
    CHECK_RC(tracker_set_storage(t, TRACKER_STORAGE_REQUIRED), TRACKER_ERROR_CONFIG);
    CHECK_RC(tracker_get_storage(t, &mode), TRACKER_OK);
    CHECK(mode == TRACKER_STORAGE_NEVER);

    /* malformed hits */
    CHECK_RC(tracker_send(t, ""), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_RC(tracker_send(t, "a=1\r\nX-Injected: 1"), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_RC(tracker_send(t, "a=1\nb=2"), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_RC(tracker_send(t, "a=1#frag"), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_RC(tracker_send(t, "a=1&ts=5"), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_RC(tracker_send(t, "\xff\xfe=1"), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_RC(tracker_send(t, "http://example.invalid/other?a=1"), TRACKER_ERROR_INVALID_ARGUMENT);
    err = tracker_last_error();
    CHECK(err != NULL && err[0] != '\0');

    json = NULL;
    CHECK_RC(tracker_stats(t, &json), TRACKER_OK);
    CHECKF(json != NULL && strstr(json, "\"queued\"") != NULL &&
               strstr(json, "\"worker_restarts\"") != NULL,
           "stats: %s", safe_str(json));
    tracker_string_free(json);

    tracker_destroy(t);
}

/* `never` mode: one attempt; unreachable means DROPPED. */
static void test_never_mode_drops(void) {
    collector down;
    event_log log;
    tracker *t = NULL;
    char cfg[256];
    section("never mode, collector down");
    event_log_init(&log);
    if (!collector_init(&down)) {
        CHECKF(0, "collector_init: %s", strerror(errno));
        return;
    }
    snprintf(cfg, sizeof cfg, "{\"endpoint\": \"http://127.0.0.1:%d/collect\"}", down.port);
    t = create_ok(cfg);
    if (t != NULL) {
        CHECK_RC(tracker_set_event_callback(t, on_event, &log), TRACKER_OK);
        CHECK_RC(tracker_send(t, "event=lost"), TRACKER_OK);
        CHECK_RC(tracker_flush(t, FLUSH_MS), TRACKER_OK);
        CHECK(event_wait(&log, TRACKER_EVENT_DROPPED, 1, WAIT_MS));
        CHECK(event_kind_count(&log, TRACKER_EVENT_STORED) == 0);
        CHECK(event_kind_count(&log, TRACKER_EVENT_SENT) == 0);
        pthread_mutex_lock(&log.mu);
        if (log.count > 0) {
            CHECKF(log.ev[0].http_status == 0, "status %d", (int)log.ev[0].http_status);
            CHECKF(log.ev[0].reason[0] != '\0', "empty DROPPED reason");
            CHECKF(strstr(log.ev[0].hit, "event=lost") != NULL, "hit %s", log.ev[0].hit);
        }
        pthread_mutex_unlock(&log.mu);
        CHECK(offline_count(t) == 0);
        tracker_destroy(t);
    }
    collector_close(&down);
    event_log_free(&log);
}

/*
 * `required` mode: hits made while the collector is down are stored, go out
 * on tracker_dispatch in the order they were made, and carry their creation
 * time in `ts`.
 */
static void test_required_mode(void) {
    collector col;
    event_log log;
    tracker *t = NULL;
    tracker *t2 = NULL;
    char dir[PATH_MAX];
    char cfg[PATH_MAX + 512];
    char *json = NULL;
    unsigned dir_mode = 0;
    int32_t mode = -1;
    time_t made_from, made_to;
    uint64_t n;
    int i;

    section("required mode: collector down, then up");
    event_log_init(&log);
    if (!collector_init(&col)) {
        CHECKF(0, "collector_init: %s", strerror(errno));
        return;
    }
    store_path(dir, sizeof dir, "required");
    /* A long backoff keeps the worker from retrying on its own: delivery below
       must come from tracker_dispatch. */
    snprintf(cfg, sizeof cfg,
             "{\"endpoint\": \"http://127.0.0.1:%d/collect\", \"storage\": \"required\", "
             "\"storage_path\": \"%s\", \"retry_base_ms\": 60000, \"retry_max_ms\": 60000, "
             "\"request_timeout_seconds\": 2}",
             col.port, dir);
    t = create_ok(cfg);
    if (t == NULL) goto done;

    CHECKF(dir_is_owner_only(dir, &dir_mode), "storage dir %s: not created or mode %o, expected 700",
           dir, dir_mode);
    CHECK_RC(tracker_get_storage(t, &mode), TRACKER_OK);
    CHECK(mode == TRACKER_STORAGE_REQUIRED);

    /* the directory is locked while the tracker is open */
    CHECK_RC(tracker_create(cfg, &t2), TRACKER_ERROR_LOCKED);
    CHECK(t2 == NULL);
    if (t2 != NULL) tracker_destroy(t2);

    CHECK_RC(tracker_set_event_callback(t, on_event, &log), TRACKER_OK);

    made_from = wall_seconds();
    CHECK_RC(tracker_send(t, "event=level_start&n=1"), TRACKER_OK);
    CHECK_RC(tracker_send(t, "event=level_end&n=2"), TRACKER_OK);
    CHECK_RC(tracker_send(t, "event=purchase&item=sword%20of%20fire&n=3"), TRACKER_OK);
    made_to = wall_seconds();
    CHECK_RC(tracker_flush(t, FLUSH_MS), TRACKER_OK);

    CHECK(collector_count(&col) == 0);
    n = offline_count(t);
    CHECKF(n == 3, "offline_count %" PRIu64, n);
    CHECK(event_wait(&log, TRACKER_EVENT_STORED, 3, WAIT_MS));
    CHECK(event_kind_count(&log, TRACKER_EVENT_SENT) == 0);
    CHECK(event_kind_count(&log, TRACKER_EVENT_DROPPED) == 0);
    pthread_mutex_lock(&log.mu);
    for (i = 0; i < log.count; i++) {
        CHECKF(log.ev[i].reason[0] != '\0', "STORED event %d has no reason", i);
        CHECKF(log.ev[i].http_status == 0, "STORED event %d status %d", i,
               (int)log.ev[i].http_status);
    }
    if (log.count >= 3) {
        CHECK(log.ev[0].id != log.ev[1].id && log.ev[1].id != log.ev[2].id &&
              log.ev[0].id != log.ev[2].id);
        CHECKF(strstr(log.ev[0].hit, "n=1") != NULL, "first STORED %s", log.ev[0].hit);
    }
    pthread_mutex_unlock(&log.mu);

    /* the queue as an app sees it: oldest first */
    CHECK_RC(tracker_offline_get(t, 100, &json), TRACKER_OK);
    CHECKF(json != NULL && json[0] == '[', "offline_get: %s", safe_str(json));
    if (json != NULL) {
        long p1 = pos_of(json, "n=1"), p2 = pos_of(json, "n=2"), p3 = pos_of(json, "n=3");
        CHECKF(p1 >= 0 && p2 > p1 && p3 > p2, "order in %s", json);
        CHECKF(strstr(json, "\"id\"") && strstr(json, "\"created\"") &&
                   strstr(json, "\"attempts\"") && strstr(json, "\"hit\""),
               "fields in %s", json);
        CHECKF(strstr(json, "sword%20of%20fire") != NULL, "escape kept: %s", json);
    }
    tracker_string_free(json);
    json = NULL;
    CHECK_RC(tracker_offline_get(t, 2, &json), TRACKER_OK);
    CHECKF(json != NULL && strstr(json, "n=1") && strstr(json, "n=2") && !strstr(json, "n=3"),
           "offline_get max=2: %s", safe_str(json));
    tracker_string_free(json);
    json = NULL;
    CHECK_RC(tracker_offline_oldest(t, &json), TRACKER_OK);
    CHECKF(json != NULL && json[0] == '{' && strstr(json, "n=1") != NULL, "oldest: %s",
           safe_str(json));
    tracker_string_free(json);
    json = NULL;
    CHECK_RC(tracker_offline_latest(t, &json), TRACKER_OK);
    CHECKF(json != NULL && json[0] == '{' && strstr(json, "n=3") != NULL, "latest: %s",
           safe_str(json));
    tracker_string_free(json);
    json = NULL;

    /* Let the clock move on so `ts` can only be the time the hit was made. */
    while (wall_seconds() < made_to + 2) sleep_ms(100);

    CHECKF(collector_start(&col), "collector_start: %s", strerror(errno));
    CHECK_RC(tracker_dispatch(t), TRACKER_OK);
    CHECK_RC(tracker_flush(t, FLUSH_MS), TRACKER_OK);
    CHECK(collector_wait(&col, 3, WAIT_MS));
    CHECK(event_wait(&log, TRACKER_EVENT_SENT, 3, WAIT_MS));
    n = offline_count(t);
    CHECKF(n == 0, "offline_count after dispatch %" PRIu64, n);
    CHECKF(collector_count(&col) == 3, "collector saw %d requests", collector_count(&col));

    for (i = 0; i < 3 && i < collector_count(&col); i++) {
        const char *line = collector_line(&col, i);
        char want[8], val[64];
        unsigned long long ts = 0;
        snprintf(want, sizeof want, "%d", i + 1);
        CHECKF(strncmp(line, "GET /collect?", 13) == 0, "request %d: %s", i, line);
        CHECKF(query_param(line, "n", val, sizeof val) && strcmp(val, want) == 0,
               "request %d out of order: %s", i, line);
        CHECKF(query_param(line, "ts", val, sizeof val) && parse_u64(val, &ts),
               "request %d has no numeric ts: %s", i, line);
        CHECKF(ts >= (unsigned long long)made_from && ts <= (unsigned long long)made_to,
               "request %d ts=%llu not within [%lld, %lld]", i, ts, (long long)made_from,
               (long long)made_to);
    }
    CHECKF(strstr(collector_line(&col, 2), "sword%20of%20fire") != NULL, "request 3: %s",
           collector_line(&col, 2));

    pthread_mutex_lock(&log.mu);
    {
        int sent = 0;
        for (i = 0; i < log.count; i++) {
            if (log.ev[i].kind != TRACKER_EVENT_SENT) continue;
            sent++;
            CHECKF(log.ev[i].http_status == 200, "SENT status %d", (int)log.ev[i].http_status);
            CHECKF(strstr(log.ev[i].hit, "ts=") != NULL, "SENT hit without ts: %s",
                   log.ev[i].hit);
            CHECKF(log.ev[i].reason[0] == '\0', "SENT reason '%s'", log.ev[i].reason);
            if (sent == 1) CHECKF(strstr(log.ev[i].hit, "n=1") != NULL, "first SENT %s",
                                  log.ev[i].hit);
        }
    }
    pthread_mutex_unlock(&log.mu);

    CHECK_RC(tracker_offline_oldest(t, &json), TRACKER_OK);
    CHECKF(json != NULL && strcmp(json, "null") == 0, "oldest of empty queue: %s",
           safe_str(json));
    tracker_string_free(json);
    json = NULL;

    /* collector up and queue empty: a new hit goes straight out */
    CHECK_RC(tracker_send(t, "event=menu&n=4"), TRACKER_OK);
    CHECK_RC(tracker_flush(t, FLUSH_MS), TRACKER_OK);
    CHECK(collector_wait(&col, 4, WAIT_MS));
    CHECK(event_wait(&log, TRACKER_EVENT_SENT, 4, WAIT_MS));
    CHECKF(strstr(collector_line(&col, 3), "n=4") != NULL, "request 4: %s",
           collector_line(&col, 3));
    CHECK(event_kind_count(&log, TRACKER_EVENT_STORED) == 3);
    CHECK(offline_count(t) == 0);

    /* unregistering returns after any running callback, so the log is stable */
    CHECK_RC(tracker_set_event_callback(t, NULL, NULL), TRACKER_OK);
    tracker_destroy(t);
    t = NULL;

    /* destroy released the lock: the directory opens again at once */
    t = create_ok(cfg);
    if (t != NULL) {
        CHECK(offline_count(t) == 0);
        tracker_destroy(t);
    }

done:
    collector_close(&col);
    event_log_free(&log);
}

/* `always` mode: nothing leaves until tracker_dispatch; the queue survives a restart. */
static void test_always_mode(void) {
    collector col;
    event_log log;
    tracker *t = NULL;
    char dir[PATH_MAX];
    char cfg[PATH_MAX + 512];
    char *json = NULL;
    int32_t mode = -1;
    uint64_t deleted = 0;
    int i;

    section("always mode + dispatch");
    event_log_init(&log);
    if (!collector_init(&col) || !collector_start(&col)) {
        CHECKF(0, "collector: %s", strerror(errno));
        return;
    }
    store_path(dir, sizeof dir, "always");
    snprintf(cfg, sizeof cfg,
             "{\"endpoint\": \"http://127.0.0.1:%d/a/b\", \"storage\": \"always\", "
             "\"storage_path\": \"%s\", \"headers\": {\"X-Game\": \"demo\"}}",
             col.port, dir);
    t = create_ok(cfg);
    if (t == NULL) goto done;
    CHECK_RC(tracker_get_storage(t, &mode), TRACKER_OK);
    CHECK(mode == TRACKER_STORAGE_ALWAYS);
    CHECK_RC(tracker_set_event_callback(t, on_event, &log), TRACKER_OK);

    CHECK_RC(tracker_send(t, "screen=title&k=1"), TRACKER_OK);
    CHECK_RC(tracker_send(t, "screen=options&k=2"), TRACKER_OK);
    CHECK_RC(tracker_flush(t, FLUSH_MS), TRACKER_OK);
    CHECK(event_wait(&log, TRACKER_EVENT_STORED, 2, WAIT_MS));
    sleep_ms(200); /* nothing may arrive even given a moment */
    CHECKF(collector_count(&col) == 0, "always mode sent %d hits on its own",
           collector_count(&col));
    CHECK(offline_count(t) == 2);

    /* stored hits survive closing the tracker */
    tracker_destroy(t);
    t = create_ok(cfg);
    if (t == NULL) goto done;
    CHECK(offline_count(t) == 2);
    CHECK_RC(tracker_set_event_callback(t, on_event, &log), TRACKER_OK);
    CHECK_RC(tracker_send(t, "screen=play&k=3"), TRACKER_OK);
    CHECK_RC(tracker_flush(t, FLUSH_MS), TRACKER_OK);
    CHECK(event_wait(&log, TRACKER_EVENT_STORED, 3, WAIT_MS));
    CHECK(offline_count(t) == 3);
    CHECK(collector_count(&col) == 0);

    CHECK_RC(tracker_dispatch(t), TRACKER_OK);
    CHECK_RC(tracker_flush(t, FLUSH_MS), TRACKER_OK);
    CHECK(collector_wait(&col, 3, WAIT_MS));
    CHECK(event_wait(&log, TRACKER_EVENT_SENT, 3, WAIT_MS));
    CHECK(offline_count(t) == 0);
    CHECK(event_kind_count(&log, TRACKER_EVENT_DROPPED) == 0);
    for (i = 0; i < 3 && i < collector_count(&col); i++) {
        const char *line = collector_line(&col, i);
        char want[8], val[64];
        snprintf(want, sizeof want, "%d", i + 1);
        CHECKF(strncmp(line, "GET /a/b?", 9) == 0, "request %d: %s", i, line);
        CHECKF(query_param(line, "k", val, sizeof val) && strcmp(val, want) == 0,
               "request %d out of order: %s", i, line);
        CHECKF(query_param(line, "ts", val, sizeof val), "request %d has no ts: %s", i, line);
    }

    /* after a dispatch the tracker goes quiet again */
    CHECK_RC(tracker_send(t, "screen=quit&k=4"), TRACKER_OK);
    CHECK_RC(tracker_flush(t, FLUSH_MS), TRACKER_OK);
    CHECK(offline_count(t) == 1);
    CHECK(collector_count(&col) == 3);
    CHECK_RC(tracker_offline_delete(t, &deleted), TRACKER_OK);
    CHECK(deleted == 1);
    CHECK(offline_count(t) == 0);
    CHECK_RC(tracker_offline_get(t, 10, &json), TRACKER_OK);
    CHECKF(json != NULL && json[0] == '[' && strchr(json, '{') == NULL, "empty queue: %s",
           safe_str(json));
    tracker_string_free(json);

    /* switching modes at run time */
    CHECK_RC(tracker_set_storage(t, TRACKER_STORAGE_REQUIRED), TRACKER_OK);
    CHECK_RC(tracker_get_storage(t, &mode), TRACKER_OK);
    CHECK(mode == TRACKER_STORAGE_REQUIRED);
    CHECK_RC(tracker_send(t, "screen=again&k=5"), TRACKER_OK);
    CHECK_RC(tracker_flush(t, FLUSH_MS), TRACKER_OK);
    CHECK(collector_wait(&col, 4, WAIT_MS));
    CHECKF(strstr(collector_line(&col, 3), "k=5") != NULL, "request 4: %s",
           collector_line(&col, 3));

    CHECK_RC(tracker_set_event_callback(t, NULL, NULL), TRACKER_OK);
    tracker_destroy(t);

done:
    collector_close(&col);
    event_log_free(&log);
}

static bool write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    bool ok = f != NULL && fputs(text, f) >= 0;
    if (f != NULL && fclose(f) != 0) ok = false;
    return ok;
}

static bool path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* The store on disk, as each platform must handle it (Windows cannot rename
 * or delete open files): reopen right after destroy, a newer format
 * refused and left untouched, fresh generations after deletes and drains,
 * several cycles in a row. */
static void test_store_on_disk(void) {
    char dir[PATH_MAX];
    char cfg[PATH_MAX + 256];
    char file[PATH_MAX + 32];
    char hit[1024];
    tracker *t = NULL;
    uint64_t deleted = 0;
    int round, i;

    section("store on disk: reopen, newer format, fresh generations");
    store_path(dir, sizeof dir, "disk");
    snprintf(cfg, sizeof cfg,
             "{\"endpoint\":\"http://127.0.0.1:9/hit\",\"storage\":\"always\","
             "\"storage_path\":\"%s\",\"shutdown_timeout_ms\":500}",
             dir);
    t = create_ok(cfg);
    if (t == NULL) return;
    for (i = 0; i < 3; i++) {
        snprintf(hit, sizeof hit, "k=%d", i);
        CHECK_RC(tracker_send(t, hit), TRACKER_OK);
    }
    tracker_destroy(t);

    /* A store written by a newer library is refused and not touched. */
    snprintf(file, sizeof file, "%s/FORMAT", dir);
    CHECK(write_file(file, "99\n"));
    t = NULL;
    CHECK_RC(tracker_create(cfg, &t), TRACKER_ERROR_STORAGE);
    CHECKF(strstr(tracker_last_error(), "newer") != NULL, "last error: %s", tracker_last_error());
    if (t != NULL) tracker_destroy(t);
    CHECK(write_file(file, "2\n"));

    /* Every cycle replaces the database generation (a rename of folders
     * whose files must be closed first on Windows) and the lock is free
     * again the moment destroy returns. */
    for (round = 0; round < 3; round++) {
        t = create_ok(cfg);
        if (t == NULL) return;
        CHECKF(offline_count(t) == (round == 0 ? 3u : 0u), "round %d: %" PRIu64 " stored", round,
               offline_count(t));
        for (i = 0; i < 200; i++) {
            snprintf(hit, sizeof hit, "r=%d&i=%d&pad=%0900d", round, i, i);
            CHECK_RC(tracker_send(t, hit), TRACKER_OK);
        }
        CHECK_RC(tracker_offline_delete(t, &deleted), TRACKER_OK);
        CHECKF(deleted == (round == 0 ? 203u : 200u), "round %d: deleted %" PRIu64, round, deleted);
        CHECK(offline_count(t) == 0);
        CHECK_RC(tracker_send(t, "after=delete"), TRACKER_OK);
        CHECK(offline_count(t) == 1);
        CHECK_RC(tracker_offline_delete(t, NULL), TRACKER_OK);
        tracker_destroy(t);
    }
    snprintf(file, sizeof file, "%s/queue", dir);
    CHECK(path_exists(file));
    snprintf(file, sizeof file, "%s/queue.old", dir);
    CHECKF(!path_exists(file), "%s left behind", file);
    snprintf(file, sizeof file, "%s/queue.next", dir);
    CHECKF(!path_exists(file), "%s left behind", file);
}

/* -------------------------------------------------------- host transport */

/* What the host's callback saw; it completes at once unless `defer`. */
typedef struct {
    pthread_mutex_t mu;
    int requests;
    char method[8];
    char url[256];
    char content_type[64];
    char body[1024];
    size_t body_len;
    bool user_agent;
    uint32_t timeout_ms;
    uint64_t last_id;
    bool defer;
    tracker **t;
} host_log;

static void on_request(const tracker_request *r, void *user_data) {
    host_log *log = user_data;
    const char *const *h;
    bool defer;
    pthread_mutex_lock(&log->mu);
    log->requests++;
    snprintf(log->method, sizeof log->method, "%s", safe_str(r->method));
    snprintf(log->url, sizeof log->url, "%s", safe_str(r->url));
    snprintf(log->content_type, sizeof log->content_type, "%s",
             r->content_type != NULL ? r->content_type : "");
    log->body_len = r->body_len;
    if (r->body != NULL && r->body_len < sizeof log->body) {
        memcpy(log->body, r->body, r->body_len);
        log->body[r->body_len] = '\0';
    } else {
        log->body[0] = '\0';
    }
    log->user_agent = false;
    for (h = r->headers; h != NULL && h[0] != NULL && h[1] != NULL; h += 2) {
        if (strcmp(h[0], "User-Agent") == 0 && strncmp(h[1], "offtrack/", 9) == 0)
            log->user_agent = true;
    }
    log->timeout_ms = r->timeout_ms;
    log->last_id = r->request_id;
    defer = log->defer;
    pthread_mutex_unlock(&log->mu);
    /* Completing from inside the callback is allowed. */
    if (!defer) tracker_transport_complete(*log->t, r->request_id, 204, NULL, NULL);
}

static int host_requests(host_log *log) {
    int n;
    pthread_mutex_lock(&log->mu);
    n = log->requests;
    pthread_mutex_unlock(&log->mu);
    return n;
}

static bool host_wait(host_log *log, int n) {
    long long deadline = now_ms() + WAIT_MS;
    while (host_requests(log) < n) {
        if (now_ms() > deadline) return false;
        sleep_ms(10);
    }
    return true;
}

/* The host makes the requests: a batch as one POST, a single hit as a GET,
 * completions from the callback and from another thread, and every bad
 * completion refused. No socket is opened by the library. */
static void test_host_transport(void) {
    tracker *t = NULL;
    host_log log;
    char dir[PATH_MAX];
    char cfg[PATH_MAX + 512];
    uint64_t id;

    section("host transport");
    memset(&log, 0, sizeof log);
    pthread_mutex_init(&log.mu, NULL);
    log.t = &t;
    store_path(dir, sizeof dir, "host");
    snprintf(cfg, sizeof cfg,
             "{\"endpoint\": \"http://127.0.0.1:9/c\", \"storage\": \"always\","
             " \"storage_path\": \"%s\", \"batch_endpoint\": \"http://127.0.0.1:9/bulk\","
             " \"request_timeout_seconds\": 3, \"shutdown_timeout_ms\": 300}",
             dir);
    CHECK_RC(tracker_set_transport(NULL, on_request, &log), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_RC(tracker_transport_complete(NULL, 1, 200, NULL, NULL), TRACKER_ERROR_NULL_ARGUMENT);
    t = create_ok(cfg);
    if (t == NULL) return;
    CHECK_RC(tracker_set_transport(t, on_request, &log), TRACKER_OK);
    CHECK_RC(tracker_send(t, "n=1"), TRACKER_OK);
    CHECK_RC(tracker_send(t, "n=2"), TRACKER_OK);
    CHECK_RC(tracker_send(t, "n=3"), TRACKER_OK);
    CHECK_RC(tracker_dispatch(t), TRACKER_OK);
    CHECK_RC(tracker_flush(t, WAIT_MS), TRACKER_OK);
    CHECKF(host_requests(&log) == 1, "%d requests", host_requests(&log));
    CHECKF(strcmp(log.method, "POST") == 0, "method %s", log.method);
    CHECKF(strcmp(log.url, "http://127.0.0.1:9/bulk") == 0, "url %s", log.url);
    CHECKF(strncmp(log.content_type, "text/plain", 10) == 0, "content type %s", log.content_type);
    CHECKF(pos_of(log.body, "n=1&ts=") == 0 && pos_of(log.body, "\nn=2&ts=") > 0 &&
               pos_of(log.body, "\nn=3&ts=") > pos_of(log.body, "\nn=2&ts="),
           "body %s", log.body);
    CHECK(log.body_len == strlen(log.body));
    CHECK(log.user_agent);
    CHECK(log.timeout_ms == 3000);
    CHECK(offline_count(t) == 0);

    /* One hit: a GET, completed later from this thread. */
    log.defer = true;
    CHECK_RC(tracker_send(t, "n=4"), TRACKER_OK);
    CHECK_RC(tracker_dispatch(t), TRACKER_OK);
    CHECK(host_wait(&log, 2));
    pthread_mutex_lock(&log.mu);
    id = log.last_id;
    pthread_mutex_unlock(&log.mu);
    CHECKF(strcmp(log.method, "GET") == 0 && pos_of(log.url, "/c?n=4&ts=") > 0, "%s %s",
           log.method, log.url);
    CHECK(log.body_len == 0 && log.content_type[0] == '\0');
    CHECK_RC(tracker_transport_complete(t, id, 600, NULL, NULL), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_RC(tracker_transport_complete(t, id, -1, NULL, NULL), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_RC(tracker_transport_complete(t, id + 1000000, 200, NULL, NULL),
             TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_RC(tracker_transport_complete(t, id, 200, NULL, NULL), TRACKER_OK);
    CHECK_RC(tracker_flush(t, WAIT_MS), TRACKER_OK);
    CHECK_RC(tracker_transport_complete(t, id, 200, NULL, NULL), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK(offline_count(t) == 0);

    /* No answer: the hit stays queued; destroy does not wait past its bound. */
    CHECK_RC(tracker_send(t, "n=5"), TRACKER_OK);
    CHECK_RC(tracker_dispatch(t), TRACKER_OK);
    CHECK(host_wait(&log, 3));
    pthread_mutex_lock(&log.mu);
    id = log.last_id;
    pthread_mutex_unlock(&log.mu);
    CHECK_RC(tracker_transport_complete(t, id, 0, NULL, "no route"), TRACKER_OK);
    CHECK_RC(tracker_flush(t, WAIT_MS), TRACKER_OK);
    CHECK(offline_count(t) == 1);
    CHECK_RC(tracker_dispatch(t), TRACKER_OK);
    CHECK(host_wait(&log, 4));
    {
        long long started = now_ms();
        tracker_destroy(t);
        CHECKF(now_ms() - started < 2000, "destroy took %lld ms", now_ms() - started);
    }
    t = create_ok(cfg);
    if (t != NULL) {
        CHECKF(offline_count(t) == 1, "%" PRIu64 " stored", offline_count(t));
        tracker_destroy(t);
    }
    pthread_mutex_destroy(&log.mu);
}

int main(void) {
    /* Line buffering is not available everywhere (Windows): flush per write. */
    setvbuf(stdout, NULL, _IONBF, 0);
    start_watchdog(WATCHDOG_SECONDS);
    if (!net_init()) {
        fprintf(stderr, "cannot start the socket library\n");
        return 2;
    }
    if (!make_temp_root(g_tmp_root, sizeof g_tmp_root)) {
        perror("temporary directory");
        return 2;
    }

    test_static_strings();
    test_bad_config();
    test_null_and_invalid_arguments();
    test_never_mode_drops();
    test_required_mode();
    test_always_mode();
    test_store_on_disk();
    test_host_transport();

    rm_rf(g_tmp_root);
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
