/*
 * A C program as a user of the installed package builds it: it includes
 * <offtrack.h> from the prefix, sends one hit carrying its tag and waits
 * until the worker has sent it.
 *   consumer ENDPOINT TAG
 */
#include <stdio.h>
#include <string.h>

#include <offtrack.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ENDPOINT TAG\n", argv[0]);
        return 2;
    }
    char config[512];
    char hit[256];
    snprintf(config, sizeof config, "{\"endpoint\":\"%s\"}", argv[1]);
    snprintf(hit, sizeof hit, "consumer=%s", argv[2]);

    tracker *t = NULL;
    int32_t rc = tracker_create(config, &t);
    if (rc != TRACKER_OK) {
        fprintf(stderr, "%s: tracker_create: %s: %s\n", argv[2], tracker_result_name(rc), tracker_last_error());
        return 1;
    }
    rc = tracker_send(t, hit);
    if (rc == TRACKER_OK) {
        rc = tracker_flush(t, 10000);
    }
    if (rc != TRACKER_OK) {
        fprintf(stderr, "%s: %s: %s\n", argv[2], tracker_result_name(rc), tracker_last_error());
    }
    tracker_destroy(t);
    if (rc == TRACKER_OK) {
        printf("%s: offtrack %s sent %s\n", argv[2], tracker_version(), hit);
    }
    return rc == TRACKER_OK ? 0 : 1;
}
