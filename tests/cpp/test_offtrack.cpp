// End-to-end test of include/offtrack.hpp against the real library and a real
// HTTP collector on 127.0.0.1 (a thread of this process, harness.hpp). The
// collector can be taken down (its listening socket closed, so connections
// are refused) and brought back on the same port, and can answer 200 or 500.
//
// Built and run by tests/cpp/run.sh (g++ -std=c++17 -Wall -Wextra -Werror -pedantic,
// linked against target/release/libofftrack.so).
#include "harness.hpp"

namespace {

// -------------------------------------------------------------------- tests

void test_types() {
    section("types and static strings");
    static_assert(!std::is_copy_constructible<Tracker>::value, "Tracker is move-only");
    static_assert(!std::is_copy_assignable<Tracker>::value, "Tracker is move-only");
    static_assert(std::is_nothrow_move_constructible<Tracker>::value, "noexcept move");
    static_assert(std::is_nothrow_move_assignable<Tracker>::value, "noexcept move");
    static_assert(std::is_nothrow_destructible<Tracker>::value, "noexcept destructor");
    static_assert(std::is_base_of<std::runtime_error, Error>::value, "Error is a runtime_error");
    static_assert(std::is_nothrow_copy_constructible<Error>::value, "copying an Error cannot throw");
    static_assert(static_cast<int>(StorageMode::Always) == TRACKER_STORAGE_ALWAYS, "mode values");
    static_assert(static_cast<int>(EventKind::Dropped) == TRACKER_EVENT_DROPPED, "kind values");
    static_assert(static_cast<int>(offtrack::Consent::Pending) == TRACKER_CONSENT_PENDING, "consent values");
    static_assert(static_cast<int>(offtrack::Result::Panic) == TRACKER_ERROR_PANIC, "result values");

    CHECK(!offtrack::version().empty());
    CHECK(offtrack::version().find('.') != std::string_view::npos);
    CHECK(offtrack::result_name(offtrack::Result::Config) == "TRACKER_ERROR_CONFIG");
    CHECK(offtrack::result_name(TRACKER_OK) == "TRACKER_OK");
    CHECK(offtrack::result_name(12345) == "TRACKER_UNKNOWN_RESULT");
    CHECK(std::string(offtrack::storage_mode_name(StorageMode::Required)) == "required");
    CHECK(std::string(offtrack::consent_name(offtrack::Consent::Denied)) == "denied");
}

void test_errors() {
    section("errors are exceptions carrying the code and last_error");
    try {
        Tracker t("{not json");
        CHECKM(false, "a malformed configuration made a tracker");
    } catch (const Error &e) {
        CHECK(e.code() == TRACKER_ERROR_CONFIG);
        CHECK(e.result() == offtrack::Result::Config);
        CHECK(!e.message().empty());
        CHECKM(std::string(e.what()).rfind("TRACKER_ERROR_CONFIG: ", 0) == 0, e.what());
        // The message is the thread's last_error at the time of the failure.
        CHECK(e.message() == offtrack::last_error());
        Error copy = e;
        CHECK(copy.code() == e.code() && copy.message() == e.message());
    }
    try {
        Tracker t(R"({"endpoint": "http://127.0.0.1:9/c", "no_such_key": 1})");
        CHECKM(false, "an unknown key was accepted");
    } catch (const Error &e) {
        CHECKM(contains(e.message(), "no_such_key"), e.message());
    }
    CHECK_THROWS(Tracker("{}"), TRACKER_ERROR_CONFIG);
    CHECK_THROWS(Tracker(offtrack::Config().endpoint("http://127.0.0.1:9/c").storage(StorageMode::Required)),
                 TRACKER_ERROR_CONFIG);
    // An embedded NUL is refused before it could silently truncate the text.
    std::string with_nul = R"({"endpoint": "http://127.0.0.1:9/c"})";
    with_nul += '\0';
    with_nul += "x";
    CHECK_THROWS(Tracker{with_nul}, TRACKER_ERROR_INVALID_ARGUMENT);

    Tracker t(offtrack::Config().endpoint("http://127.0.0.1:9/c"));
    CHECK(t.valid());
    CHECK(t.storage() == StorageMode::Never);
    CHECK_THROWS(t.send(""), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_THROWS(t.send("a=1\r\nX-Injected: 1"), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_THROWS(t.send("a=1#frag"), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_THROWS(t.send("a=1&ts=5"), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_THROWS(t.send("http://example.invalid/other?a=1"), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_THROWS(t.send(std::string("a=1\0b=2", 7)), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK_THROWS(t.set_storage(static_cast<StorageMode>(7)), TRACKER_ERROR_INVALID_ARGUMENT);
    // No storage_path: the stored modes are a configuration error, mode unchanged.
    CHECK_THROWS(t.set_storage(StorageMode::Required), TRACKER_ERROR_CONFIG);
    CHECK(t.storage() == StorageMode::Never);
    CHECK_THROWS(t.offline_delete_older_than(-1s), TRACKER_ERROR_INVALID_ARGUMENT);
    CHECK(t.offline_count() == 0);
    CHECK(t.offline_delete() == 0);

    // The storage directory is locked while a tracker has it open.
    auto locked_cfg = offtrack::Config().endpoint("http://127.0.0.1:9/c").storage_path(dir("locked"));
    Tracker first(locked_cfg);
    CHECK_THROWS(Tracker second(locked_cfg), TRACKER_ERROR_LOCKED);
}

void test_config_json() {
    section("Config builds the JSON of tracker_create");
    auto cfg = offtrack::Config()
                   .endpoint("http://h/c")
                   .storage(StorageMode::Always)
                   .max_attempts(5)
                   .timestamp_offline_only(true)
                   .header("X-Quote", "a\"b\\c\n");
    CHECK(cfg.to_json() ==
          R"({"endpoint": "http://h/c", "storage": "always", "max_attempts": 5, )"
          R"("timestamp_offline_only": true, "headers": {"X-Quote": "a\"b\\c\n"}})");
    CHECK(offtrack::Config()
              .batch_endpoint("http://h/b")
              .batch_format(offtrack::BatchFormat::Json)
              .batch_max_hits(10)
              .batch_max_bytes(2048)
              .to_json() ==
          R"({"batch_endpoint": "http://h/b", "batch_format": "json", "batch_max_hits": 10, "batch_max_bytes": 2048})");
    CHECK(offtrack::Config().batch_format(offtrack::BatchFormat::Lines).to_json() == R"({"batch_format": "lines"})");
    CHECK(offtrack::Config().consent(offtrack::Consent::Pending).to_json() == R"({"consent": "pending"})");
    CHECK(offtrack::Config().encryption_key("ab").to_json() == R"({"encryption_key": "ab"})");
    cfg.max_attempts(7);  // setting a key again replaces it
    CHECK(contains(cfg.to_json(), "\"max_attempts\": 7") && !contains(cfg.to_json(), ": 5"));
    CHECK(offtrack::Config().to_json() == "{}");
    CHECK(contains(offtrack::Config().storage_path("C:\\x").to_json(), R"("C:\\x")"));

    // Unset keys stay out of the JSON, so the library's defaults apply to them.
    const auto minimal = offtrack::Config().endpoint("http://h/c");
    CHECK(minimal.to_json() == R"({"endpoint": "http://h/c"})");
    CHECK(minimal.has("endpoint"));
    CHECK(!minimal.has("timestamp_param") && !minimal.has("max_attempts") && !minimal.has("headers"));
    CHECK(offtrack::Config().header("X-A", "b").has("headers"));
    CHECK(offtrack::Config().timestamp_param("").has("timestamp_param"));

    using Names = std::vector<std::string>;
    CHECK(offtrack::Config().reserved_param_names() == Names{"ts"});
    CHECK(offtrack::Config().timestamp_param("t").id_param("hid").reserved_param_names() == (Names{"t", "hid"}));
    CHECK(offtrack::Config().id_param("hid").reserved_param_names() == (Names{"ts", "hid"}));
    CHECK(offtrack::Config().timestamp_param("").id_param("").reserved_param_names().empty());
    CHECK(offtrack::Config().set_raw("timestamp_param", R"("when")").reserved_param_names() == Names{"when"});
}

void test_library_defaults_apply() {
    section("keys left unset take the library's defaults");
    Collector col;
    CHECK(col.start());
    // Only the endpoint: the request carries the library's own timestamp
    // parameter, under the name Config::reserved_param_names assumes.
    const auto cfg = offtrack::Config().endpoint(col.url());
    const std::vector<std::string> reserved = cfg.reserved_param_names();
    CHECK(reserved.size() == 1);
    Tracker t(cfg);
    CHECK(t.storage() == StorageMode::Never);
    CHECK_OK(t.send("n=1"));
    CHECK_OK(t.flush(kFlush));
    CHECK(col.wait_for(1));
    if (!reserved.empty()) CHECKM(has_param(col.line(0), reserved[0]), col.line(0));

    // Set to "": the key is sent and turns the parameter off.
    Collector col2;
    CHECK(col2.start());
    Tracker off(offtrack::Config().endpoint(col2.url()).timestamp_param(""));
    CHECK_OK(off.send("n=2"));
    CHECK_OK(off.flush(kFlush));
    CHECK(col2.wait_for(1));
    CHECKM(col2.line(0) == "GET /collect?n=2 HTTP/1.1", col2.line(0));
}

void test_never_mode() {
    section("never mode: collector down drops, collector up sends");
    Collector col;
    CHECK(col.reserve_port_down());
    EventLog log;
    {
        Tracker t(base_config(col));
        CHECK_OK(t.on_event(log.handler()));
        CHECK_OK(t.send("event=lost"));
        CHECK_OK(t.flush(kFlush));
        CHECK(log.wait(EventKind::Dropped, 1));
        CHECK(log.count(EventKind::Stored) == 0);
        auto dropped = log.of(EventKind::Dropped);
        if (!dropped.empty()) {
            CHECK(dropped[0].http_status == 0);
            CHECK(!dropped[0].reason.empty());
            CHECKM(contains(dropped[0].hit, "event=lost"), dropped[0].hit);
        }
        CHECK(t.offline_count() == 0);
    }
    CHECK(col.start());
    {
        EventLog up;
        Tracker t(base_config(col));
        t.on_event(up.handler());
        CHECK_OK(t.send("event=delivered&n=1"));
        CHECK_OK(t.flush(kFlush));
        CHECK(col.wait_for(1));
        CHECK(up.wait(EventKind::Sent, 1));
        auto sent = up.of(EventKind::Sent);
        if (!sent.empty()) {
            CHECK(sent[0].http_status == 200);
            CHECK(sent[0].reason.empty());
            CHECKM(contains(sent[0].hit, "event=delivered") && contains(sent[0].hit, "ts="),
                   sent[0].hit);
        }
        CHECKM(col.line(0).rfind("GET /collect?", 0) == 0, col.line(0));
        CHECKM(query_param(col.line(0), "n") == "1", col.line(0));
        CHECKM(has_param(col.line(0), "ts"), col.line(0));
    }
}

void test_required_mode_and_order() {
    section("required mode: stored while down, delivered in order on dispatch");
    Collector col;
    CHECK(col.reserve_port_down());
    EventLog log;
    Tracker t(base_config(col).storage(StorageMode::Required).storage_path(dir("required")));
    CHECK(t.storage() == StorageMode::Required);
    t.on_event(log.handler());

    const auto made_from = wall_seconds();
    for (int i = 1; i <= 3; ++i) CHECK_OK(t.send("event=e&n=" + std::to_string(i)));
    CHECK_OK(t.flush(kFlush));
    CHECK(log.wait(EventKind::Stored, 3));
    CHECK(t.offline_count() == 3);
    // A new hit never overtakes stored ones: it joins the tail.
    CHECK_OK(t.send("event=e&n=4"));
    const auto made_to = wall_seconds();
    CHECK_OK(t.flush(kFlush));
    CHECK(log.wait(EventKind::Stored, 4));
    CHECK(t.offline_count() == 4);
    CHECK(col.count() == 0);
    auto stored = log.of(EventKind::Stored);
    for (size_t i = 0; i < stored.size(); ++i) {
        CHECK(!stored[i].reason.empty());
        for (size_t j = i + 1; j < stored.size(); ++j) CHECK(stored[i].id != stored[j].id);
    }

    // The queue as an app sees it.
    const std::string all = t.offline_get(100);
    CHECKM(!all.empty() && all.front() == '[', all);
    const auto p1 = all.find("n=1"), p2 = all.find("n=2"), p3 = all.find("n=3"), p4 = all.find("n=4");
    CHECKM(p1 != std::string::npos && p1 < p2 && p2 < p3 && p3 < p4 && p4 != std::string::npos, all);
    CHECKM(contains(all, "\"id\"") && contains(all, "\"created\"") && contains(all, "\"attempts\""), all);
    const std::string two = t.offline_get(2);
    CHECKM(contains(two, "n=1") && contains(two, "n=2") && !contains(two, "n=3"), two);
    const std::string oldest = t.offline_oldest();
    CHECKM(oldest.front() == '{' && contains(oldest, "n=1"), oldest);
    const std::string latest = t.offline_latest();
    CHECKM(latest.front() == '{' && contains(latest, "n=4"), latest);
    CHECKM(contains(t.stats(), "\"queued\""), t.stats());

    // Let the clock move on so `ts` can only be the time each hit was made.
    while (wall_seconds() < made_to + 2) std::this_thread::sleep_for(100ms);

    CHECK(col.start());
    CHECK_OK(t.dispatch());
    CHECK_OK(t.flush(kFlush));
    CHECK(col.wait_for(4));
    CHECK(log.wait(EventKind::Sent, 4));
    CHECK(t.offline_count() == 0);
    CHECK(t.offline_oldest() == "null");
    CHECK(t.offline_latest() == "null");
    CHECK(t.offline_get(10) == "[]");
    for (size_t i = 0; i < 4 && i < col.count(); ++i) {
        const std::string line = col.line(i);
        CHECKM(query_param(line, "n") == std::to_string(i + 1), "out of order: " + line);
        const long long ts = std::atoll(query_param(line, "ts").c_str());
        CHECKM(ts >= static_cast<long long>(made_from) && ts <= static_cast<long long>(made_to),
               "ts is not the creation time: " + line);
    }
    auto sent = log.of(EventKind::Sent);
    if (!sent.empty()) CHECKM(contains(sent.front().hit, "n=1"), sent.front().hit);
    for (const Event &e : sent) CHECK(e.http_status == 200 && e.reason.empty());
    CHECK(log.count(EventKind::Dropped) == 0);

    // Queue empty and collector up: a new hit goes straight out.
    CHECK_OK(t.send("event=e&n=5"));
    CHECK_OK(t.flush(kFlush));
    CHECK(col.wait_for(5));
    CHECKM(query_param(col.line(4), "n") == "5", col.line(4));
    CHECK(log.count(EventKind::Stored) == 4);
}

void test_server_errors() {
    section("required mode: 500 answers count as attempts, then drop");
    Collector col;
    CHECK(col.start());
    col.set_status(500);
    EventLog log;
    Tracker t(base_config(col).storage(StorageMode::Required).storage_path(dir("retry")).max_attempts(2));
    t.on_event(log.handler());
    CHECK_OK(t.send("event=flaky"));
    CHECK_OK(t.flush(kFlush));
    CHECK(log.wait(EventKind::Stored, 1));
    auto stored = log.of(EventKind::Stored);
    if (!stored.empty()) CHECKM(stored[0].http_status == 500, std::to_string(stored[0].http_status));
    CHECK(t.offline_count() == 1);
    CHECK_OK(t.dispatch());  // the second and last attempt
    CHECK_OK(t.flush(kFlush));
    CHECK(log.wait(EventKind::Dropped, 1));
    auto dropped = log.of(EventKind::Dropped);
    if (!dropped.empty()) {
        CHECK(dropped[0].http_status == 500);
        CHECK(!dropped[0].reason.empty());
    }
    CHECK(t.offline_count() == 0);
    CHECK(col.count() == 2);

    // Back to 200: a new stored hit is delivered on dispatch.
    col.set_status(200);
    CHECK_OK(t.send("event=recovered"));
    CHECK_OK(t.dispatch());
    CHECK_OK(t.flush(kFlush));
    CHECK(log.wait(EventKind::Sent, 1));
    CHECK(col.wait_for(3));
}

void test_always_mode_and_restart() {
    section("always mode: nothing leaves until dispatch; the queue survives a restart");
    Collector col;
    CHECK(col.start());
    EventLog log;
    const auto cfg = base_config(col).storage(StorageMode::Always).storage_path(dir("always"));
    Tracker t(cfg);
    t.on_event(log.handler());
    CHECK_OK(t.send("screen=title&k=1"));
    CHECK_OK(t.send("screen=options&k=2"));
    CHECK_OK(t.flush(kFlush));
    CHECK(log.wait(EventKind::Stored, 2));
    std::this_thread::sleep_for(200ms);
    CHECKM(col.count() == 0, "always mode sent on its own");
    CHECK(t.offline_count() == 2);

    // Move-assigning a new tracker destroys the old one first, releasing the
    // directory's lock; a fresh Tracker on the same directory must open.
    t = Tracker(offtrack::Config().endpoint("http://127.0.0.1:9/unused"));
    Tracker reopened(cfg);
    CHECK(reopened.offline_count() == 2);
    EventLog log2;
    reopened.on_event(log2.handler());
    CHECK_OK(reopened.send("screen=play&k=3"));
    CHECK_OK(reopened.flush(kFlush));
    CHECK(reopened.offline_count() == 3);
    CHECK(col.count() == 0);
    CHECK_OK(reopened.dispatch());
    CHECK_OK(reopened.flush(kFlush));
    CHECK(col.wait_for(3));
    CHECK(log2.wait(EventKind::Sent, 3));
    for (size_t i = 0; i < 3 && i < col.count(); ++i) {
        CHECKM(query_param(col.line(i), "k") == std::to_string(i + 1), col.line(i));
    }
    CHECK(reopened.offline_count() == 0);

    // After a dispatch the tracker is quiet again.
    CHECK_OK(reopened.send("screen=quit&k=4"));
    CHECK_OK(reopened.flush(kFlush));
    CHECK(reopened.offline_count() == 1);
    CHECK(col.count() == 3);

    // Switching modes at run time.
    CHECK_OK(reopened.set_storage(StorageMode::Required));
    CHECK(reopened.storage() == StorageMode::Required);
    CHECK_OK(reopened.dispatch());
    CHECK_OK(reopened.flush(kFlush));
    CHECK(col.wait_for(4));
    CHECK_OK(reopened.send("screen=again&k=5"));
    CHECK_OK(reopened.flush(kFlush));
    CHECK(col.wait_for(5));
    CHECKM(query_param(col.line(4), "k") == "5", col.line(4));
}

void test_offline_api() {
    section("offline API: delete, delete_older_than, opt-out, online hint");
    Collector col;
    CHECK(col.start());
    EventLog log;
    Tracker t(base_config(col).storage(StorageMode::Always).storage_path(dir("offline")));
    t.on_event(log.handler());
    for (int i = 0; i < 3; ++i) CHECK_OK(t.send("q=" + std::to_string(i)));
    CHECK(t.offline_count() == 3);
    CHECK(t.offline_delete_older_than(3600s) == 0);
    CHECK(t.offline_count() == 3);
    uint64_t deleted = 99;
    CHECK_OK(deleted = t.offline_delete());
    CHECK(deleted == 3);
    CHECK(t.offline_count() == 0);
    CHECK(log.wait(EventKind::Dropped, 3));
    // Events of deleted hits carry the hit's URL (README, "DROPPED events
    // decided on the caller's thread").
    for (const Event &e : log.of(EventKind::Dropped)) {
        CHECKM(contains(e.hit, "q="), e.hit);
        CHECK(!e.reason.empty());
    }

    CHECK_OK(t.send("q=old"));
    std::this_thread::sleep_for(2100ms);
    CHECK_OK(t.send("q=new"));
    CHECK(t.offline_delete_older_than(1s) == 1);
    CHECK(t.offline_count() == 1);
    CHECKM(contains(t.offline_oldest(), "q=new"), t.offline_oldest());
    CHECK(t.offline_delete() == 1);

    // The deletes' events come from the worker, after the calls returned.
    CHECK(log.wait(EventKind::Dropped, 5));

    // Opt-out: hits are accepted but dropped, and nothing is stored.
    CHECK_OK(t.set_opt_out(true));
    CHECK_OK(t.send("q=private"));
    CHECK_OK(t.flush(kFlush));
    CHECK(log.wait(EventKind::Dropped, 6));
    bool opted_out = false;
    for (const Event &e : log.of(EventKind::Dropped)) {
        if (contains(e.hit, "q=private")) opted_out = e.reason == "consent denied";
    }
    CHECKM(opted_out, "no DROPPED event with reason consent denied for q=private");
    CHECK(t.consent() == offtrack::Consent::Denied);
    CHECK(t.offline_count() == 0);
    CHECKM(contains(t.stats(), "\"opt_out\":true") || contains(t.stats(), "\"opt_out\": true"), t.stats());
    CHECK_OK(t.set_opt_out(false));

    // Online hint: offline means required-mode hits are stored without an attempt;
    // back online probes at once and delivers them.
    CHECK_OK(t.set_storage(StorageMode::Required));
    CHECK_OK(t.set_online(false));
    CHECK_OK(t.send("q=while_offline"));
    CHECK_OK(t.flush(kFlush));
    CHECK(t.offline_count() == 1);
    CHECK(col.count() == 0);
    CHECK_OK(t.set_online(true));
    CHECK(col.wait_for(1));
    CHECK(wait_until([&] { return t.offline_count() == 0; }));
    CHECKM(query_param(col.line(0), "q") == "while_offline", col.line(0));
}

void test_consent() {
    section("consent: pending keeps and sends nothing, granted releases, denied drops, remembered");
    using offtrack::Consent;
    Collector col;
    CHECK(col.start());
    EventLog log;
    const auto cfg = base_config(col).storage(StorageMode::Required).storage_path(dir("consent"));
    {
        Tracker t(offtrack::Config(cfg).consent(Consent::Pending));
        t.on_event(log.handler());
        CHECK(t.consent() == Consent::Pending);
        // The configuration's value is an assumption; this is the choice.
        CHECK_OK(t.set_consent(Consent::Pending));
        CHECK_OK(t.send("n=1"));
        CHECK_OK(t.send("n=2"));
        CHECK_OK(t.dispatch());
        CHECK_OK(t.set_online(true));
        CHECK_OK(t.flush(kFlush));
        std::this_thread::sleep_for(300ms);
        CHECKM(col.count() == 0, col.line(0));
        CHECK(t.offline_count() == 2);
        CHECK(log.wait(EventKind::Stored, 2));
        for (const Event &e : log.of(EventKind::Stored)) CHECKM(e.reason == "consent pending: kept until granted", e.reason);
        CHECKM(contains(t.stats(), "\"consent\":\"pending\""), t.stats());

        // Out of range: refused, nothing changes.
        CHECK_THROWS(t.set_consent(static_cast<Consent>(3)), TRACKER_ERROR_INVALID_ARGUMENT);
        CHECK_THROWS(t.set_consent(static_cast<Consent>(-1)), TRACKER_ERROR_INVALID_ARGUMENT);
        CHECK(t.consent() == Consent::Pending);
    }
    {
        // Remembered: the choice wins over the configuration.
        Tracker t(offtrack::Config(cfg).consent(Consent::Granted));
        t.on_event(log.handler());
        CHECK(t.consent() == Consent::Pending);
        CHECK_OK(t.set_consent(Consent::Granted));
        CHECK(col.wait_for(2));
        CHECKM(query_param(col.line(0), "n") == "1" && query_param(col.line(1), "n") == "2", col.line(0));
        CHECKM(has_param(col.line(0), "ts"), col.line(0));
        CHECK(wait_until([&] { return t.offline_count() == 0; }));

        CHECK_OK(t.set_consent(Consent::Denied));
        CHECK_OK(t.send("n=3"));
        CHECK_OK(t.flush(kFlush));
        bool denied = false;
        CHECK(wait_until([&] {
            for (const Event &e : log.of(EventKind::Dropped)) {
                if (contains(e.hit, "n=3")) denied = e.reason == "consent denied";
            }
            return denied;
        }));
        CHECKM(denied, "no DROPPED event with reason consent denied for n=3");
        CHECK_OK(t.set_opt_out(false));
        CHECK(t.consent() == Consent::Granted);
    }
    CHECK(col.count() == 2);
}

void test_flush_timeout() {
    section("flush deadline is an Error(TRACKER_ERROR_TIMEOUT)");
    Collector col;
    CHECK(col.start());
    col.set_delay(1500ms);
    Tracker t(base_config(col));
    CHECK_OK(t.send("slow=1"));
    CHECK_THROWS(t.flush(1ms), TRACKER_ERROR_TIMEOUT);
    CHECK_OK(t.flush(kFlush));
    CHECK(col.count() == 1);
}

void test_move_semantics() {
    section("move semantics and the event handler's lifetime");
    Collector col;
    CHECK(col.start());
    EventLog log;
    Tracker a(base_config(col));
    a.on_event(log.handler());
    tracker *raw = a.native_handle();
    CHECK(raw != nullptr);

    Tracker b(std::move(a));
    CHECK(!a.valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
    CHECK(!static_cast<bool>(a));
    CHECK(a.native_handle() == nullptr);
    CHECK(b.native_handle() == raw);
    CHECK_THROWS(a.send("x=1"), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_THROWS(a.offline_count(), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_THROWS(a.on_event([](const Event &) {}), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK(a.event_handler_failures() == 0);

    // The handler moved with the tracker and still receives events.
    CHECK_OK(b.send("moved=1"));
    CHECK_OK(b.flush(kFlush));
    CHECK(log.wait(EventKind::Sent, 1));

    // Self-move leaves the tracker intact.
    Tracker &alias = b;
    b = std::move(alias);
    CHECK(b.valid() && b.native_handle() == raw);

    // Move-assign into an empty tracker.
    a = std::move(b);
    CHECK(a.valid() && !b.valid());
    CHECK_OK(a.send("moved=2"));
    CHECK_OK(a.flush(kFlush));
    CHECK(log.wait(EventKind::Sent, 2));

    // A handler that throws loses only its event; the worker goes on.
    std::atomic<int> calls{0};
    a.on_event([&](const Event &) {
        ++calls;
        throw std::runtime_error("handler failure");
    });
    CHECK_OK(a.send("throws=1"));
    CHECK_OK(a.send("throws=2"));
    CHECK_OK(a.flush(kFlush));
    CHECK(wait_until([&] { return calls.load() >= 2; }));
    // Counted just after the handler threw, on the worker thread.
    CHECK(wait_until([&] { return a.event_handler_failures() >= 2; }));

    // Replacing the handler: the old one gets nothing more.
    EventLog second;
    a.on_event(second.handler());
    const int calls_before = calls.load();
    CHECK_OK(a.send("replaced=1"));
    CHECK_OK(a.flush(kFlush));
    CHECK(second.wait(EventKind::Sent, 1));
    CHECK(calls.load() == calls_before);
    CHECK(a.event_handler_failures() == 0);

    // Removing it.
    CHECK_OK(a.clear_event_handler());
    CHECK_OK(a.send("removed=1"));
    CHECK_OK(a.flush(kFlush));
    std::this_thread::sleep_for(100ms);
    CHECK(second.count(EventKind::Sent) == 1);

    // close() is explicit destruction; it is idempotent and leaves an empty tracker.
    a.close();
    a.close();
    CHECK(!a.valid());
    CHECK_THROWS(a.dispatch(), TRACKER_ERROR_NULL_ARGUMENT);
}

// A never-mode tracker whose first hit is in flight and whose next two wait
// in memory behind it when it is destroyed: tracker_destroy itself raises
// their DROPPED events, which only a handler still registered receives.
void destroy_round(bool explicit_close) {
    Collector col;
    CHECK(col.start());
    // Answers long after the destroy gave up waiting (shutdown_timeout_ms).
    col.set_delay(1500ms);
    // On the heap and freed right after the destroy: a callback after that
    // would touch freed memory, which the sanitized run reports.
    auto log = std::make_unique<EventLog>();
    size_t before_destroy = 99;
    size_t after_destroy = 0;
    {
        Tracker t(base_config(col).id_param("hid").request_timeout_seconds(10).shutdown_timeout_ms(200));
        t.on_event(log->handler());
        CHECK_OK(t.send("n=1"));
        CHECK(col.wait_for(1));
        CHECK_OK(t.send("n=2"));
        CHECK_OK(t.send("n=3"));
        before_destroy = log->total();
        if (explicit_close) {
            t.close();
            after_destroy = log->total();
            CHECK(!t.valid());
        }
    }
    if (!explicit_close) after_destroy = log->total();
    CHECKM(before_destroy == 0, std::to_string(before_destroy));
    CHECKM(after_destroy == 3, std::to_string(after_destroy));

    // The in-flight hit's id is the one the collector saw; the two behind it
    // got the next ids, in send order.
    const std::string first_line = col.line(0);
    CHECKM(query_param(first_line, "n") == "1", first_line);
    const std::uint64_t first = std::strtoull(query_param(first_line, "hid").c_str(), nullptr, 10);
    CHECKM(first > 0, first_line);
    const std::vector<Event> dropped = log->of(EventKind::Dropped);
    CHECK(dropped.size() == 3);
    CHECK(log->total() == dropped.size());
    for (size_t i = 0; i < dropped.size(); ++i) {
        const Event &e = dropped[i];
        CHECKM(e.id == first + i, std::to_string(e.id));
        CHECKM(query_param(e.hit, "n") == std::to_string(i + 1), e.hit);
        CHECKM(query_param(e.hit, "hid") == std::to_string(e.id), e.hit);
        CHECK(e.http_status == 0);
        CHECKM(contains(e.reason, "destroyed"), e.reason);
    }
    if (!dropped.empty()) CHECKM(contains(dropped[0].reason, "in flight"), dropped[0].reason);

    log.reset();
    // Lets the hanging request finish, so a late callback would have its chance.
    col.stop();
    std::this_thread::sleep_for(200ms);
    CHECK(col.count() == 1);  // no request started during the shutdown
}

void test_destroy_events_reach_handler() {
    section("the handler stays registered through destroy and gets its DROPPED events");
    destroy_round(false);  // the destructor
    destroy_round(true);   // close()
}

void test_analytics_mapper() {
    section("analytics mapping (used by the Unreal provider)");
    using offtrack::AnalyticsMapper;
    using offtrack::Attributes;
    CHECK(offtrack::encode_component("a b&c=d") == "a%20b%26c%3Dd");
    CHECK(offtrack::encode_component("50%+#") == "50%25%2B%23");
    CHECK(offtrack::encode_component("\xC3\xA9t\xC3\xA9") == "%C3%A9t%C3%A9");
    CHECK(offtrack::encode_component("Az09-._~") == "Az09-._~");

    AnalyticsMapper m({"ts", "hid", ""});
    CHECK(!m.in_session());
    CHECK(m.event("boot") == "event=boot");
    CHECK(!m.end_session().has_value());

    auto start = m.start_session({{"map", "forest"}});
    CHECK(start.has_value());
    CHECK(m.in_session());
    const std::string sid = m.session_id();
    CHECK(sid.size() == 32 && sid.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(*start == "event=session_start&sid=" + sid + "&map=forest");
    CHECK(!m.start_session().has_value());  // repeated calls are ignored
    CHECK(m.session_id() == sid);

    CHECK(m.event("level up", {{"level", "3"}, {"name", "Zoë & co"}}) ==
          "event=level%20up&sid=" + sid + "&level=3&name=Zo%C3%AB%20%26%20co");
    m.set_user_id("player@1");
    CHECK(m.user_id() == "player@1");
    CHECK(m.event("x") == "event=x&sid=" + sid + "&uid=player%401");
    // Names taken by the mapping or the tracker are renamed; empty names are left out.
    CHECK(m.event("x", {{"ts", "1"}, {"sid", "2"}, {"hid", "3"}, {"", "4"}, {"event", "5"}}) ==
          "event=x&sid=" + sid + "&uid=player%401&attr_ts=1&attr_sid=2&attr_hid=3&attr_event=5");
    m.set_default_attributes({{"build", "1.2"}});
    CHECK(m.default_attributes().size() == 1);
    CHECK(m.event("x", {{"a", "b"}}) == "event=x&sid=" + sid + "&uid=player%401&build=1.2&a=b");
    CHECK(m.set_session_id("s-2"));
    CHECK(!m.set_session_id(""));
    CHECK(m.event("x", {}) == "event=x&sid=s-2&uid=player%401&build=1.2");

    auto end = m.end_session();
    CHECK(end.has_value() && *end == "event=session_end&sid=s-2&uid=player%401");
    CHECK(!m.in_session() && m.session_id().empty());
    CHECK(m.event("after") == "event=after&uid=player%401&build=1.2");

    // An id set between sessions is used by the next one.
    CHECK(m.set_session_id("chosen"));
    auto next = m.start_session();
    CHECK(next.has_value() && *next == "event=session_start&sid=chosen&uid=player%401");
    m.end_session();
    m.set_user_id("");
    auto fresh = m.start_session();
    CHECK(fresh.has_value() && m.session_id() != "chosen" && m.session_id() != sid);
    CHECK(AnalyticsMapper::new_session_id() != AnalyticsMapper::new_session_id());

    // The hits survive the trip through the library and arrive as built.
    Collector col;
    CHECK(col.start());
    Tracker t(base_config(col).id_param("hid"));
    AnalyticsMapper live({"ts", "hid"});
    live.set_user_id("u 1");
    CHECK_OK(t.send(*live.start_session({{"mode", "co-op"}})));
    CHECK_OK(t.send(live.event("purchase", {{"item", "sword of fire"}, {"price", "9.99"}, {"hid", "x"}})));
    CHECK_OK(t.send(*live.end_session()));
    CHECK_OK(t.flush(kFlush));
    CHECK(col.wait_for(3));
    const std::string s0 = col.line(0), s1 = col.line(1), s2 = col.line(2);
    CHECKM(query_param(s0, "event") == "session_start" && query_param(s0, "mode") == "co-op", s0);
    const std::string live_sid = query_param(s0, "sid");
    CHECKM(live_sid.size() == 32, s0);
    CHECKM(query_param(s0, "uid") == "u%201", s0);
    CHECKM(query_param(s1, "event") == "purchase" && query_param(s1, "sid") == live_sid, s1);
    CHECKM(query_param(s1, "item") == "sword%20of%20fire" && query_param(s1, "price") == "9.99", s1);
    CHECKM(query_param(s1, "attr_hid") == "x" && has_param(s1, "hid") && has_param(s1, "ts"), s1);
    CHECKM(query_param(s2, "event") == "session_end" && query_param(s2, "sid") == live_sid, s2);
}

}  // namespace

int main(int argc, char **argv) {
    return run_suite(argc, argv, "offtrack-cpp", {
        {"test_types", test_types},
        {"test_errors", test_errors},
        {"test_config_json", test_config_json},
        {"test_library_defaults_apply", test_library_defaults_apply},
        {"test_never_mode", test_never_mode},
        {"test_required_mode_and_order", test_required_mode_and_order},
        {"test_server_errors", test_server_errors},
        {"test_always_mode_and_restart", test_always_mode_and_restart},
        {"test_offline_api", test_offline_api},
        {"test_consent", test_consent},
        {"test_flush_timeout", test_flush_timeout},
        {"test_move_semantics", test_move_semantics},
        {"test_destroy_events_reach_handler", test_destroy_events_reach_handler},
        {"test_analytics_mapper", test_analytics_mapper},
    });
}
