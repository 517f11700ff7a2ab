/*
 * Offtrack demo: a game records analytics hits while its collector is
 * unreachable, keeps them on disk, and delivers them in order once the
 * collector is back.
 *
 * Usage: demo PORT STORAGE_DIR READY_FILE GO_FILE SENT_FILE
 *   PORT         collector port on 127.0.0.1 (nothing listens there at first)
 *   STORAGE_DIR  fresh directory for the offline queue
 *   READY_FILE   created once the hits are stored (tells run.sh to start the collector)
 *   GO_FILE      waited for before dispatching (run.sh creates it once the collector listens)
 *   SENT_FILE    receives the hits as sent, one per line, for the final comparison
 */
#define _XOPEN_SOURCE 700 /* localtime_r, nanosleep, clock_gettime */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "offtrack.h"

/* ------------------------------------------------------------ time helpers */

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static long long wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "14:03:07.512" for a Unix time in milliseconds. */
static const char *clock_str(long long ms, char *buf, size_t cap) {
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char hms[16];
    localtime_r(&secs, &tm);
    strftime(hms, sizeof hms, "%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%03d", hms, (int)(ms % 1000));
    return buf;
}

static const char *now_str(char *buf, size_t cap) { return clock_str(wall_ms(), buf, cap); }

/* ------------------------------------------------------------------ events */

#define MAX_EVENTS 64

typedef struct {
    long long at_ms;
    int32_t kind;
    uint64_t id;
    int32_t http_status;
    char hit[512];
    char reason[256];
} logged_event;

static pthread_mutex_t g_events_mu = PTHREAD_MUTEX_INITIALIZER;
static logged_event g_events[MAX_EVENTS];
static int g_event_count;

static const char *kind_name(int32_t kind) {
    switch (kind) {
    case TRACKER_EVENT_SENT: return "SENT";
    case TRACKER_EVENT_STORED: return "STORED";
    case TRACKER_EVENT_DROPPED: return "DROPPED";
    default: return "?";
    }
}

/* Runs on the tracker's worker thread; the event's strings are copied because
   they are only valid during the call. */
static void on_event(const tracker_event *e, void *user_data) {
    char when[32];
    (void)user_data;
    pthread_mutex_lock(&g_events_mu);
    if (g_event_count < MAX_EVENTS) {
        logged_event *l = &g_events[g_event_count++];
        l->at_ms = wall_ms();
        l->kind = e->kind;
        l->id = e->id;
        l->http_status = e->http_status;
        snprintf(l->hit, sizeof l->hit, "%s", e->hit != NULL ? e->hit : "");
        snprintf(l->reason, sizeof l->reason, "%s", e->reason != NULL ? e->reason : "");
    }
    pthread_mutex_unlock(&g_events_mu);
    printf("    %s  event %-7s hit #%" PRIu64 "%s%s\n", now_str(when, sizeof when),
           kind_name(e->kind), e->id, (e->reason != NULL && e->reason[0] != '\0') ? "  reason: " : "",
           e->reason != NULL ? e->reason : "");
}

static int count_events(int32_t kind) {
    int i, n = 0;
    pthread_mutex_lock(&g_events_mu);
    for (i = 0; i < g_event_count; i++) n += (g_events[i].kind == kind);
    pthread_mutex_unlock(&g_events_mu);
    return n;
}

/* ------------------------------------------- reading tracker_offline_get JSON */

/* The queue is a JSON array of flat objects:
   [{"id": 7, "hit": "https://…", "created": 1732280000123, "attempts": 1}, …] */
typedef struct {
    unsigned long long id;
    unsigned long long created;
    unsigned long long attempts;
    char hit[1024];
} queued_hit;

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
    return p;
}

/* Reads a JSON string at p (which points at the opening quote) into out. */
static const char *read_string(const char *p, char *out, size_t cap) {
    size_t n = 0;
    if (*p != '"') return NULL;
    p++;
    while (*p != '"') {
        char c = *p;
        if (c == '\0') return NULL;
        if (c == '\\') {
            p++;
            switch (*p) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u':
                /* hits are ASCII once built; show anything else as '?' */
                if (strlen(p) < 5) return NULL;
                c = '?';
                p += 4;
                break;
            case '\0': return NULL;
            default: c = *p; break; /* \" \\ \/ */
            }
        }
        if (n + 1 < cap) out[n++] = c;
        p++;
    }
    out[n] = '\0';
    return p + 1;
}

/* Returns the number of hits read, or -1 if the text is not the expected shape. */
static int parse_queue(const char *json, queued_hit *out, int max) {
    const char *p = skip_ws(json);
    int count = 0;
    if (*p++ != '[') return -1;
    p = skip_ws(p);
    if (*p == ']') return 0;
    for (;;) {
        queued_hit h;
        memset(&h, 0, sizeof h);
        p = skip_ws(p);
        if (*p++ != '{') return -1;
        for (;;) {
            char key[32];
            p = skip_ws(p);
            if (*p == '}') break;
            p = read_string(p, key, sizeof key);
            if (p == NULL) return -1;
            p = skip_ws(p);
            if (*p++ != ':') return -1;
            p = skip_ws(p);
            if (*p == '"') {
                char value[1024];
                p = read_string(p, value, sizeof value);
                if (p == NULL) return -1;
                if (strcmp(key, "hit") == 0) snprintf(h.hit, sizeof h.hit, "%s", value);
            } else {
                char *end = NULL;
                unsigned long long v = strtoull(p, &end, 10);
                if (end == p) {
                    /* true/false/null or another number form: skip the token */
                    while (*end != '\0' && *end != ',' && *end != '}') end++;
                }
                if (strcmp(key, "id") == 0) h.id = v;
                else if (strcmp(key, "created") == 0) h.created = v;
                else if (strcmp(key, "attempts") == 0) h.attempts = v;
                p = end;
            }
            p = skip_ws(p);
            if (*p == ',') p++;
        }
        p++; /* '}' */
        if (count < max) out[count] = h;
        count++;
        p = skip_ws(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ']') break;
        return -1;
    }
    return count < max ? count : max;
}

static void print_queue(tracker *t) {
    char *json = NULL;
    queued_hit hits[32];
    int32_t rc = tracker_offline_get(t, 32, &json);
    int n, i;
    if (rc != TRACKER_OK) {
        printf("  tracker_offline_get failed: %s (%s)\n", tracker_result_name(rc), tracker_last_error());
        return;
    }
    n = parse_queue(json, hits, 32);
    if (n < 0) {
        printf("  (unexpected JSON) %s\n", json);
    } else if (n == 0) {
        printf("  (empty)\n");
    } else {
        printf("  %-4s %-14s %-8s %s\n", "id", "made at", "attempts", "hit (as it will be sent)");
        for (i = 0; i < n; i++) {
            char when[32];
            printf("  %-4llu %-14s %-8llu %s\n", hits[i].id,
                   clock_str((long long)hits[i].created, when, sizeof when), hits[i].attempts,
                   hits[i].hit);
        }
    }
    tracker_string_free(json);
}

static uint64_t queue_length(tracker *t) {
    uint64_t n = 0;
    if (tracker_offline_count(t, &n) != TRACKER_OK) {
        printf("  tracker_offline_count failed: %s\n", tracker_last_error());
    }
    return n;
}

/* ----------------------------------------------------------------- the story */

static const char *const k_hits[] = {
    "event=app_open&platform=linux&build=1.4.2",
    "event=level_start&level=1",
    "event=level_end&level=1&score=4200&duration_s=95",
    "event=purchase&item=sword%20of%20fire&price_cents=199&currency=EUR",
    "event=level_start&level=2",
};
#define HIT_COUNT ((int)(sizeof k_hits / sizeof k_hits[0]))

static bool wait_for_file(const char *path, int timeout_ms) {
    struct stat st;
    long long deadline = wall_ms() + timeout_ms;
    while (stat(path, &st) != 0) {
        if (wall_ms() > deadline) return false;
        sleep_ms(50);
    }
    return true;
}

static bool touch(const char *path) {
    FILE *f = fopen(path, "w");
    if (f == NULL) return false;
    return fclose(f) == 0;
}

int main(int argc, char **argv) {
    char config[4096];
    char when[32];
    tracker *t = NULL;
    FILE *sent_file;
    int32_t rc;
    int i, sent, stored, dropped;
    long long t0;
    uint64_t left;

    if (argc != 6) {
        fprintf(stderr, "usage: %s PORT STORAGE_DIR READY_FILE GO_FILE SENT_FILE\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* retry_base_ms is raised from its 1 s default so that, in this short demo,
       delivery visibly comes from tracker_dispatch rather than a lucky retry.
       batch_endpoint: the queue goes out as one POST instead of a GET per hit. */
    if (snprintf(config, sizeof config,
                 "{\"endpoint\": \"http://127.0.0.1:%s/collect\",\n"
                 "            \"batch_endpoint\": \"http://127.0.0.1:%s/collect/batch\",\n"
                 "            \"storage\": \"required\",\n"
                 "            \"storage_path\": \"%s\",\n"
                 "            \"retry_base_ms\": 30000}",
                 argv[1], argv[1], argv[2]) >= (int)sizeof config) {
        fprintf(stderr, "storage path too long\n");
        return 2;
    }

    printf("Offtrack %s\n\n", tracker_version());
    printf("1. Create a tracker in `required` mode. Nothing listens on port %s yet.\n", argv[1]);
    printf("   config: %s\n", config);
    rc = tracker_create(config, &t);
    if (rc != TRACKER_OK) {
        fprintf(stderr, "tracker_create: %s: %s\n", tracker_result_name(rc), tracker_last_error());
        return 1;
    }
    /* Registered before the first send, so every event is seen. */
    tracker_set_event_callback(t, on_event, NULL);

    sent_file = fopen(argv[5], "w");
    if (sent_file == NULL) {
        perror(argv[5]);
        tracker_destroy(t);
        return 1;
    }

    printf("\n2. The player plays while offline; each hit is sent as it happens.\n");
    for (i = 0; i < HIT_COUNT; i++) {
        if (i > 0) sleep_ms(900);
        rc = tracker_send(t, k_hits[i]);
        printf("  %s  tracker_send(\"%s\") -> %s\n", now_str(when, sizeof when), k_hits[i],
               tracker_result_name(rc));
        fprintf(sent_file, "%s\n", k_hits[i]);
    }
    fclose(sent_file);
    rc = tracker_flush(t, 5000);
    printf("  tracker_flush -> %s\n", tracker_result_name(rc));

    left = queue_length(t);
    printf("\n3. The offline queue (tracker_offline_get): %" PRIu64 " hit(s) on disk, oldest first\n",
           left);
    print_queue(t);

    printf("\n4. The network comes back: starting the collector on port %s ...\n", argv[1]);
    if (!touch(argv[3]) || !wait_for_file(argv[4], 15000)) {
        fprintf(stderr, "the collector did not come up\n");
        tracker_destroy(t);
        return 1;
    }

    printf("\n5. tracker_dispatch + tracker_flush: the queue goes out in batches (one POST here)\n");
    t0 = wall_ms();
    rc = tracker_dispatch(t);
    printf("  %s  tracker_dispatch -> %s (returns at once; the worker delivers)\n",
           now_str(when, sizeof when), tracker_result_name(rc));
    rc = tracker_flush(t, 10000);
    printf("  %s  tracker_flush -> %s after %lld ms\n", now_str(when, sizeof when),
           tracker_result_name(rc), wall_ms() - t0);
    left = queue_length(t);
    printf("  offline queue now holds %" PRIu64 " hit(s)\n", left);

    /* Removing the callback waits for a running one, so the log is final. */
    tracker_set_event_callback(t, NULL, NULL);
    tracker_destroy(t);

    printf("\n6. Event log (from the tracker's callback)\n");
    printf("  %-14s %-8s %-4s %-6s %s\n", "time", "event", "hit", "status", "detail");
    pthread_mutex_lock(&g_events_mu);
    for (i = 0; i < g_event_count; i++) {
        const logged_event *l = &g_events[i];
        printf("  %-14s %-8s #%-3" PRIu64 " %-6d %s\n", clock_str(l->at_ms, when, sizeof when),
               kind_name(l->kind), l->id, (int)l->http_status,
               l->kind == TRACKER_EVENT_SENT ? l->hit : l->reason);
    }
    pthread_mutex_unlock(&g_events_mu);

    sent = count_events(TRACKER_EVENT_SENT);
    stored = count_events(TRACKER_EVENT_STORED);
    dropped = count_events(TRACKER_EVENT_DROPPED);
    printf("  totals: %d STORED, %d SENT, %d DROPPED; %" PRIu64 " left in the queue\n", stored,
           sent, dropped, left);
    return (sent == HIT_COUNT && stored == HIT_COUNT && dropped == 0 && left == 0) ? 0 : 1;
}
