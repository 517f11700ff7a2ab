// The C header must be usable from C++ as-is: it has to compile cleanly under
// strict C++17 and give the functions C linkage (checked by linking the object
// against the library and running it).
#include "offtrack.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

static_assert(std::is_same<decltype(&tracker_send), int32_t (*)(tracker *, const char *)>::value,
              "tracker_send signature");
static_assert(std::is_same<decltype(&tracker_create),
                           int32_t (*)(const char *, tracker **)>::value,
              "tracker_create signature");
static_assert(std::is_same<decltype(&tracker_flush), int32_t (*)(tracker *, uint32_t)>::value,
              "tracker_flush signature");
static_assert(std::is_same<decltype(&tracker_offline_get),
                           int32_t (*)(const tracker *, uint64_t, char **)>::value,
              "tracker_offline_get signature");
static_assert(std::is_same<decltype(&tracker_set_event_callback),
                           int32_t (*)(tracker *, tracker_event_callback, void *)>::value,
              "tracker_set_event_callback signature");
static_assert(std::is_same<decltype(tracker_event::id), uint64_t>::value, "event id is u64");
static_assert(TRACKER_OK == 0 && TRACKER_ERROR_PANIC == 8, "result values");
static_assert(TRACKER_STORAGE_ALWAYS == 2, "storage values");
static_assert(std::is_same<decltype(&tracker_set_consent), int32_t (*)(tracker *, int32_t)>::value,
              "tracker_set_consent signature");
static_assert(std::is_same<decltype(&tracker_get_consent),
                           int32_t (*)(const tracker *, int32_t *)>::value,
              "tracker_get_consent signature");
static_assert(TRACKER_CONSENT_GRANTED == 0 && TRACKER_CONSENT_PENDING == 1 &&
                  TRACKER_CONSENT_DENIED == 2,
              "consent values");

namespace {
void on_event(const tracker_event *event, void *user_data) {
    (void)event;
    (void)user_data;
}
}  // namespace

int main() {
    tracker *t = nullptr;
    tracker_event_callback cb = &on_event;
    (void)cb;
    if (tracker_create(nullptr, &t) != TRACKER_ERROR_NULL_ARGUMENT) {
        std::fprintf(stderr, "tracker_create(nullptr) did not report a NULL argument\n");
        return 1;
    }
    tracker_destroy(nullptr);
    tracker_string_free(nullptr);
    if (std::strcmp(tracker_result_name(TRACKER_OK), "TRACKER_OK") != 0) return 1;
    std::printf("C++ header check: offtrack %s\n", tracker_version());
    return 0;
}
