/*
 * Child of tests/platforms/kill_test.py, for the platforms where the Python
 * suite cannot run (Windows under Wine, aarch64 under qemu).
 *
 *   kill_child send DIR ENDPOINT FIRST_K
 *       required mode, collector down: sends k=FIRST_K, FIRST_K+1, ... and
 *       prints each acknowledged k on its own line at once, until killed
 *       (a dispatch every 97 hits, a flush every 211, as in the Linux test).
 *   kill_child list DIR ENDPOINT
 *       prints the k of every stored hit, oldest first, then "count N".
 */
#define _XOPEN_SOURCE 700

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"

#include "offtrack.h"

static tracker *open_store(const char *dir, const char *endpoint) {
    char cfg[2048];
    tracker *t = NULL;
    int32_t rc;
    snprintf(cfg, sizeof cfg,
             "{\"endpoint\":\"%s\",\"storage\":\"required\",\"storage_path\":\"%s\","
             "\"request_timeout_seconds\":1,\"retry_base_ms\":50,\"retry_max_ms\":200,"
             "\"shutdown_timeout_ms\":500}",
             endpoint, dir);
    rc = tracker_create(cfg, &t);
    if (rc != TRACKER_OK) {
        fprintf(stderr, "create failed rc=%d: %s\n", (int)rc, tracker_last_error());
        exit(3);
    }
    return t;
}

int main(int argc, char **argv) {
    tracker *t;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 5 && strcmp(argv[1], "send") == 0) {
        long long k = atoll(argv[4]);
        long i = 0;
        char hit[64];
        t = open_store(argv[2], argv[3]);
        printf("ready\n");
        for (;;) {
            snprintf(hit, sizeof hit, "k=%lld", k);
            if (tracker_send(t, hit) == TRACKER_OK) {
                printf("%lld\n", k);
            } else {
                fprintf(stderr, "send k=%lld: %s\n", k, tracker_last_error());
            }
            k++;
            i++;
            if (i % 97 == 0) tracker_dispatch(t);
            if (i % 211 == 0) tracker_flush(t, 200);
            sleep_ms(1);
        }
    }
    if (argc >= 4 && strcmp(argv[1], "list") == 0) {
        char *json = NULL;
        const char *p;
        long count = 0;
        t = open_store(argv[2], argv[3]);
        if (tracker_offline_get(t, UINT64_MAX, &json) != TRACKER_OK || json == NULL) {
            fprintf(stderr, "offline_get failed: %s\n", tracker_last_error());
            return 4;
        }
        for (p = strstr(json, "k="); p != NULL; p = strstr(p + 2, "k=")) {
            printf("%lld\n", atoll(p + 2));
            count++;
        }
        tracker_string_free(json);
        tracker_destroy(t);
        printf("count %ld\n", count);
        return 0;
    }
    fprintf(stderr, "usage: kill_child send DIR ENDPOINT FIRST_K | list DIR ENDPOINT\n");
    return 2;
}
