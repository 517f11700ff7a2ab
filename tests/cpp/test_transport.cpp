// The host transport of include/offtrack.hpp (Tracker::set_transport) against
// the real library. The transport here is what an app with its own HTTP stack
// would write: each request is performed by a plain POSIX-socket HTTP/1.1
// client on a thread of its own, against the collector of harness.hpp, and
// answered through its offtrack::Completion.
//
// Built and run by tests/cpp/run.sh, like test_offtrack.cpp.
#include "harness.hpp"

#include <netdb.h>

#include <condition_variable>
#include <memory>

namespace {

using offtrack::Completion;
using offtrack::Request;

// Marks the requests this file's client made, so the collector can tell
// them from the built-in client's.
const char *const kViaHeader = "X-Test-Transport";

// ----------------------------------------------------------- socket client

struct HttpResult {
    int status = 0;           // 0: no answer
    std::string retry_after;  // "" when the answer had none
    std::string error;        // why there was no answer
};

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](char ch) { return static_cast<char>(std::tolower(static_cast<unsigned char>(ch))); });
    return s;
}

// One HTTP/1.1 request over a new connection, "Connection: close", as the
// Request describes it: the method, the target, the headers, the body.
HttpResult http_perform(const Request &r) {
    HttpResult out;
    const std::string scheme = "http://";
    if (r.url.compare(0, scheme.size(), scheme) != 0) {
        out.error = "this test client speaks plain http only";
        return out;
    }
    const std::string rest = r.url.substr(scheme.size());
    const auto slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    const std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
    const auto colon = authority.rfind(':');
    const std::string host = authority.substr(0, colon);
    const std::string port = colon == std::string::npos ? "80" : authority.substr(colon + 1);

    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *found = nullptr;
    if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
        out.error = "cannot resolve " + host;
        return out;
    }
    const int fd = ::socket(found->ai_family, found->ai_socktype, found->ai_protocol);
    if (fd < 0) {
        ::freeaddrinfo(found);
        out.error = std::string("socket: ") + std::strerror(errno);
        return out;
    }
    // The whole exchange is bounded by the request's timeout, as the library expects.
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(r.timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((r.timeout.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const int connected = ::connect(fd, found->ai_addr, found->ai_addrlen);
    ::freeaddrinfo(found);
    if (connected != 0) {
        out.error = std::string("connect: ") + std::strerror(errno);
        ::close(fd);
        return out;
    }

    std::string message = r.method + " " + target + " HTTP/1.1\r\nHost: " + authority + "\r\n";
    for (const offtrack::Header &h : r.headers) message += h.name + ": " + h.value + "\r\n";
    message += std::string(kViaHeader) + ": socket\r\n";
    if (!r.content_type.empty()) message += "Content-Type: " + r.content_type + "\r\n";
    if (r.method != "GET") message += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    message += "Connection: close\r\n\r\n";
    message += r.body;
    for (size_t sent = 0; sent < message.size();) {
        const ssize_t n = ::send(fd, message.data() + sent, message.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            out.error = std::string("send: ") + std::strerror(errno);
            ::close(fd);
            return out;
        }
        sent += static_cast<size_t>(n);
    }

    std::string answer;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            out.error = std::string("recv: ") + std::strerror(errno);
            ::close(fd);
            return out;
        }
        if (n == 0) break;
        answer.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    // "HTTP/1.1 200 OK\r\n..."
    if (answer.compare(0, 5, "HTTP/") != 0 || answer.find(' ') == std::string::npos) {
        out.error = "malformed answer";
        return out;
    }
    out.status = std::atoi(answer.c_str() + answer.find(' ') + 1);
    const std::string head = lower(answer.substr(0, answer.find("\r\n\r\n")));
    const auto at = head.find("\r\nretry-after:");
    if (at != std::string::npos) {
        const auto start = answer.find_first_not_of(' ', at + std::strlen("\r\nretry-after:"));
        out.retry_after = answer.substr(start, answer.find("\r\n", start) - start);
    }
    return out;
}

// --------------------------------------------------------------- transport

// A host transport. The handler only records the request and starts a
// thread; what happens next depends on the mode.
class SocketTransport {
public:
    enum class Mode {
        Complete,      // perform, then complete with the answer
        Hold,          // perform, then park the answer for the test to complete
        FailInline,    // fail at once, from inside the handler
        NeverAnswer,   // do nothing: the library's timeout ends the request
    };

    struct Parked {
        Request request;
        Completion completion;
        HttpResult result;
    };

    explicit SocketTransport(Mode mode) : mode_(mode) {}
    SocketTransport(const SocketTransport &) = delete;
    SocketTransport &operator=(const SocketTransport &) = delete;
    ~SocketTransport() { join(); }

    offtrack::TransportHandler handler() {
        return [this](const Request &r, Completion done) { start(r, std::move(done)); };
    }

    void set_mode(Mode mode) { mode_ = mode; }

    std::vector<Request> requests() const {
        std::lock_guard<std::mutex> lock(mu_);
        return requests_;
    }
    std::vector<Completion> completions() const {
        std::lock_guard<std::mutex> lock(mu_);
        return completions_;
    }
    // What complete()/fail() returned in the Complete and FailInline modes.
    std::vector<bool> accepted() const {
        std::lock_guard<std::mutex> lock(mu_);
        return accepted_;
    }
    bool wait_requests(size_t n, std::chrono::milliseconds timeout = kWait) const {
        return wait_for_count([this] { return requests_.size(); }, n, timeout);
    }
    bool wait_parked(size_t n, std::chrono::milliseconds timeout = kWait) const {
        return wait_for_count([this] { return parked_.size(); }, n, timeout);
    }
    bool wait_accepted(size_t n, std::chrono::milliseconds timeout = kWait) const {
        return wait_for_count([this] { return accepted_.size(); }, n, timeout);
    }
    Parked parked(size_t i) const {
        std::lock_guard<std::mutex> lock(mu_);
        return i < parked_.size() ? parked_[i] : Parked{};
    }
    std::thread::id handler_thread() const {
        std::lock_guard<std::mutex> lock(mu_);
        return handler_thread_;
    }

    void join() {
        std::vector<std::thread> threads;
        {
            std::lock_guard<std::mutex> lock(mu_);
            threads.swap(threads_);
        }
        for (std::thread &t : threads) t.join();
    }

private:
    template <class Count>
    bool wait_for_count(Count count, size_t n, std::chrono::milliseconds timeout) const {
        std::unique_lock<std::mutex> lock(mu_);
        return changed_.wait_for(lock, timeout, [&] { return count() >= n; });
    }

    void start(const Request &r, Completion done) {
        const Mode mode = mode_;
        {
            std::lock_guard<std::mutex> lock(mu_);
            requests_.push_back(r);
            completions_.push_back(done);
            handler_thread_ = std::this_thread::get_id();
            changed_.notify_all();
        }
        if (mode == Mode::FailInline) {
            record(done.fail("host transport offline"));
            return;
        }
        if (mode == Mode::NeverAnswer) return;
        std::lock_guard<std::mutex> lock(mu_);
        threads_.emplace_back([this, r, done, mode] {
            const HttpResult result = http_perform(r);
            if (mode == Mode::Hold) {
                std::lock_guard<std::mutex> inner(mu_);
                parked_.push_back(Parked{r, done, result});
                changed_.notify_all();
                return;
            }
            record(result.status != 0 ? done.complete(result.status, result.retry_after) : done.fail(result.error));
        });
    }

    void record(bool accepted) {
        std::lock_guard<std::mutex> lock(mu_);
        accepted_.push_back(accepted);
        changed_.notify_all();
    }

    std::atomic<Mode> mode_;
    mutable std::mutex mu_;
    mutable std::condition_variable changed_;
    std::vector<Request> requests_;
    std::vector<Completion> completions_;
    std::vector<Parked> parked_;
    std::vector<bool> accepted_;
    std::vector<std::thread> threads_;
    std::thread::id handler_thread_;
};

// The request target of a URL: what the collector's request line carries.
std::string target_of(const std::string &url) {
    const auto start = url.find('/', url.find("//") + 2);
    return start == std::string::npos ? "/" : url.substr(start);
}

bool has_header(const Request &r, const std::string &name, const std::string &value_prefix) {
    for (const offtrack::Header &h : r.headers) {
        if (lower(h.name) == lower(name) && h.value.compare(0, value_prefix.size(), value_prefix) == 0) return true;
    }
    return false;
}

long long elapsed_ms(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count();
}

// -------------------------------------------------------------------- tests

void test_types() {
    section("transport types");
    static_assert(std::is_copy_constructible<Completion>::value, "a Completion is a copyable handle");
    static_assert(std::is_nothrow_move_constructible<Completion>::value, "noexcept move");
    static_assert(std::is_nothrow_move_constructible<Tracker>::value, "Tracker still moves without throwing");

    const Completion empty;
    CHECK(empty.request_id() == 0);
    CHECK(!empty.tracker_alive());
    CHECK(!empty.complete(200));
    CHECK(!empty.fail("nothing"));

    Tracker t(offtrack::Config().endpoint("http://127.0.0.1:9/c"));
    CHECK_OK(t.set_transport([](const Request &, Completion) {}));
    CHECK_OK(t.clear_transport());
    CHECK_OK(t.set_transport(offtrack::TransportHandler()));  // empty: the built-in client
    t.close();
    CHECK_THROWS(t.set_transport([](const Request &, Completion) {}), TRACKER_ERROR_NULL_ARGUMENT);
    CHECK_THROWS(t.clear_transport(), TRACKER_ERROR_NULL_ARGUMENT);
}

void test_exact_hits() {
    section("every hit arrives exactly once, in order, through the host's client");
    Collector col;
    CHECK(col.start());
    SocketTransport transport(SocketTransport::Mode::Complete);
    EventLog log;
    Tracker t(base_config(col)
                  .storage(StorageMode::Required)
                  .storage_path(dir("exact"))
                  .id_param("hid")
                  .header("X-App", "demo"));
    t.on_event(log.handler());
    CHECK_OK(t.set_transport(transport.handler()));

    const int hits = 5;
    for (int i = 1; i <= hits; ++i) CHECK_OK(t.send("event=e&n=" + std::to_string(i) + "&name=a%20b"));
    CHECK_OK(t.flush(kFlush));
    CHECK(log.wait(EventKind::Sent, hits));
    CHECK(transport.wait_accepted(hits));
    std::this_thread::sleep_for(100ms);  // room for a duplicate to show up

    CHECKM(col.count() == static_cast<size_t>(hits), std::to_string(col.count()));
    CHECK(t.offline_count() == 0);
    const std::vector<Request> requests = transport.requests();
    CHECK(requests.size() == static_cast<size_t>(hits));
    for (bool ok : transport.accepted()) CHECK(ok);
    CHECK(transport.handler_thread() != std::this_thread::get_id());  // the worker calls the handler
    const std::vector<Event> sent = log.of(EventKind::Sent);
    for (size_t i = 0; i < requests.size() && i < col.count(); ++i) {
        const Request &r = requests[i];
        CHECK(r.method == "GET");
        CHECK(r.content_type.empty() && r.body.empty());
        CHECK(r.timeout == 2000ms);  // request_timeout_seconds(2) of base_config
        CHECKM(r.url.rfind(col.url() + "?", 0) == 0, r.url);
        CHECK(has_header(r, "X-App", "demo"));
        CHECK(has_header(r, "User-Agent", "offtrack/"));
        for (size_t j = i + 1; j < requests.size(); ++j) CHECK(requests[j].id != r.id);
        // The collector got exactly the request the library asked for, from this file's client.
        CHECKM(col.line(i) == "GET " + target_of(r.url) + " HTTP/1.1", col.line(i));
        CHECKM(query_param(col.line(i), "n") == std::to_string(i + 1), col.line(i));
        CHECKM(query_param(col.line(i), "name") == "a%20b", col.line(i));
        CHECKM(has_param(col.line(i), "ts") && has_param(col.line(i), "hid"), col.line(i));
        CHECK(col.header(i, kViaHeader) == "socket");
        CHECK(col.header(i, "X-App") == "demo");
        if (i < sent.size()) {
            CHECK(sent[i].http_status == 200);
            CHECKM(query_param(col.line(i), "hid") == std::to_string(sent[i].id), col.line(i));
        }
    }
}

void test_batch_post() {
    section("a batch is a POST whose body and content type reach the collector as the library made them");
    Collector col;
    CHECK(col.start());
    SocketTransport transport(SocketTransport::Mode::Complete);
    EventLog log;
    Tracker t(base_config(col)
                  .storage(StorageMode::Always)
                  .storage_path(dir("batch"))
                  .batch_endpoint(col.url("/batch")));
    t.on_event(log.handler());
    CHECK_OK(t.set_transport(transport.handler()));
    for (int i = 1; i <= 3; ++i) CHECK_OK(t.send("n=" + std::to_string(i)));
    CHECK_OK(t.dispatch());
    CHECK_OK(t.flush(kFlush));
    CHECK(log.wait(EventKind::Sent, 3));
    CHECK(col.wait_for(1));

    const std::vector<Request> requests = transport.requests();
    CHECKM(requests.size() == 1, std::to_string(requests.size()));
    CHECK(col.count() == 1);
    if (requests.empty()) return;
    const Request &r = requests[0];
    CHECK(r.method == "POST");
    CHECK(r.url == col.url("/batch"));
    CHECKM(r.content_type == "text/plain; charset=utf-8", r.content_type);
    CHECK(col.line(0) == "POST /batch HTTP/1.1");
    CHECK(col.header(0, "Content-Type") == r.content_type);
    CHECK(col.body(0) == r.body);
    // One line per hit, oldest first, each the query a GET would carry.
    std::stringstream lines(r.body);
    std::string line;
    int n = 0;
    while (std::getline(lines, line)) {
        ++n;
        CHECKM(query_param("?" + line, "n") == std::to_string(n), line);
        CHECKM(has_param("?" + line, "ts"), line);
    }
    CHECK(n == 3);
    CHECK(t.offline_count() == 0);
}

void test_out_of_order() {
    section("completions in another order than the requests: each reaches its own tracker");
    Collector col;
    CHECK(col.start());
    SocketTransport transport(SocketTransport::Mode::Hold);
    const int trackers = 3;
    std::vector<std::unique_ptr<EventLog>> logs;
    std::vector<Tracker> ts;
    for (int i = 0; i < trackers; ++i) {
        logs.push_back(std::make_unique<EventLog>());
        ts.emplace_back(base_config(col));
        ts.back().on_event(logs.back()->handler());
        CHECK_OK(ts.back().set_transport(transport.handler()));
    }
    for (int i = 0; i < trackers; ++i) {
        CHECK_OK(ts[static_cast<size_t>(i)].send("tracker=" + std::to_string(i)));
        // One at a time, so the parked answers are in tracker order.
        CHECK(transport.wait_parked(static_cast<size_t>(i) + 1));
    }
    CHECK(col.wait_for(trackers));
    for (const auto &log : logs) CHECK(log->total() == 0);  // nothing decided before the answers

    // Answered last request first.
    for (int i = trackers - 1; i >= 0; --i) {
        const SocketTransport::Parked p = transport.parked(static_cast<size_t>(i));
        CHECKM(query_param(p.request.url, "tracker") == std::to_string(i), p.request.url);
        CHECK(p.result.status == 200);
        CHECK(p.completion.complete(p.result.status, p.result.retry_after));
        CHECK(logs[static_cast<size_t>(i)]->wait(EventKind::Sent, 1));
        for (int j = 0; j < i; ++j) CHECK(logs[static_cast<size_t>(j)]->total() == 0);
    }
    // A second answer to the same request changes nothing.
    for (int i = 0; i < trackers; ++i) {
        const SocketTransport::Parked p = transport.parked(static_cast<size_t>(i));
        CHECK(!p.completion.complete(500));
        CHECK(!p.completion.fail("again"));
        CHECK(p.completion.tracker_alive());
    }
    std::this_thread::sleep_for(100ms);
    for (const auto &log : logs) {
        CHECK(log->total() == 1);
        const std::vector<Event> sent = log->of(EventKind::Sent);
        if (!sent.empty()) CHECK(sent[0].http_status == 200);
    }
    CHECK(col.count() == static_cast<size_t>(trackers));
}

void test_timeout_then_late_answer() {
    section("a request never answered times out; its late answer is refused, the next request's is taken");
    Collector col;
    CHECK(col.start());
    SocketTransport transport(SocketTransport::Mode::NeverAnswer);
    EventLog log;
    Tracker t(base_config(col).request_timeout_seconds(1).storage(StorageMode::Required).storage_path(dir("timeout")));
    t.on_event(log.handler());
    CHECK_OK(t.set_transport(transport.handler()));

    const auto started = std::chrono::steady_clock::now();
    CHECK_OK(t.send("n=1"));
    CHECK(transport.wait_requests(1));
    CHECK(log.wait(EventKind::Stored, 1));
    const long long waited = elapsed_ms(started);
    // The worker waited for the answer for the request's timeout, not less.
    CHECKM(waited >= 900, std::to_string(waited) + " ms");
    const std::vector<Event> stored = log.of(EventKind::Stored);
    if (!stored.empty()) CHECK(stored[0].http_status == 0);
    CHECK(t.offline_count() == 1);
    CHECK(col.count() == 0);

    // The same hit again, as a new request, answered this time.
    transport.set_mode(SocketTransport::Mode::Complete);
    CHECK_OK(t.dispatch());
    CHECK(log.wait(EventKind::Sent, 1));
    CHECK(transport.wait_accepted(1));
    const std::vector<Request> requests = transport.requests();
    CHECK(requests.size() == 2);
    if (requests.size() == 2) {
        CHECK(requests[0].id != requests[1].id);
        CHECK(requests[0].url.substr(0, requests[0].url.find("&ts=")) ==
              requests[1].url.substr(0, requests[1].url.find("&ts=")));
    }
    CHECK(transport.accepted() == std::vector<bool>{true});

    // The first request's answer, after the second's: too late.
    const std::vector<Completion> completions = transport.completions();
    CHECK(!completions.empty() && !completions[0].complete(200));
    CHECK(t.offline_count() == 0);
    CHECK(log.count(EventKind::Sent) == 1);
    CHECK(col.count() == 1);
}

void test_completion_after_destroy() {
    section("a completion after the tracker is destroyed is a no-op; one during the destroy is taken");
    Collector col;
    CHECK(col.start());
    {
        SocketTransport transport(SocketTransport::Mode::Hold);
        auto log = std::make_unique<EventLog>();
        std::optional<Tracker> t;
        t.emplace(base_config(col).shutdown_timeout_ms(300).storage(StorageMode::Required).storage_path(dir("after")));
        t->on_event(log->handler());
        CHECK_OK(t->set_transport(transport.handler()));
        CHECK_OK(t->send("n=1"));
        CHECK(transport.wait_parked(1));
        const SocketTransport::Parked p = transport.parked(0);
        CHECK(p.completion.tracker_alive());

        const auto started = std::chrono::steady_clock::now();
        t.reset();  // the Tracker object is gone, not just closed
        const long long took = elapsed_ms(started);
        CHECKM(took < 2000, std::to_string(took) + " ms");  // bounded by shutdown_timeout_ms
        log.reset();  // a callback after the destroy would touch freed memory (ASan)

        CHECK(!p.completion.tracker_alive());
        CHECK(!p.completion.complete(p.result.status));
        CHECK(!p.completion.fail("late"));
        const Completion copy = p.completion;  // copies share the refusal
        CHECK(!copy.complete(200));
    }
    {
        // The hit had no answer while the tracker lived: it is still stored.
        Tracker again(base_config(col).storage(StorageMode::Required).storage_path(dir("after")));
        CHECK(again.offline_count() == 1);
        CHECK_OK(again.dispatch());
        CHECK_OK(again.flush(kFlush));
        CHECK(again.offline_count() == 0);
        CHECK(col.count() == 2);
        CHECK(col.header(1, kViaHeader) == "\x01missing");  // the built-in client this time
    }

    // Answered while tracker_destroy waits for it: the hit is delivered.
    {
        SocketTransport transport(SocketTransport::Mode::Hold);
        EventLog log;
        std::atomic<int> answer{-1};
        std::thread answering;
        {
            Tracker t(base_config(col).shutdown_timeout_ms(5000).storage(StorageMode::Required).storage_path(dir("during")));
            t.on_event(log.handler());
            CHECK_OK(t.set_transport(transport.handler()));
            CHECK_OK(t.send("n=2"));
            CHECK(transport.wait_parked(1));
            const SocketTransport::Parked p = transport.parked(0);
            answering = std::thread([p, &answer] {
                std::this_thread::sleep_for(300ms);
                answer = p.completion.complete(p.result.status) ? 1 : 0;
            });
            const auto started = std::chrono::steady_clock::now();
            t.close();
            const long long took = elapsed_ms(started);
            CHECKM(took < 4000, std::to_string(took) + " ms");  // ended by the answer, not the timeout
            CHECK(log.count(EventKind::Sent) == 1);
        }
        answering.join();
        CHECK(answer == 1);
        Tracker again(base_config(col).storage(StorageMode::Required).storage_path(dir("during")));
        CHECK(again.offline_count() == 0);
    }

    // Many threads racing the destroy: at most one answer is taken, and
    // none touches the tracker after it is gone (ASan).
    {
        SocketTransport transport(SocketTransport::Mode::Hold);
        std::atomic<int> taken{0};
        std::atomic<bool> go{false};
        std::vector<std::thread> racers;
        {
            Tracker t(base_config(col).shutdown_timeout_ms(200));
            CHECK_OK(t.set_transport(transport.handler()));
            CHECK_OK(t.send("n=3"));
            CHECK(transport.wait_parked(1));
            const Completion c = transport.parked(0).completion;
            for (int i = 0; i < 4; ++i) {
                racers.emplace_back([c, &taken, &go] {
                    while (!go) std::this_thread::yield();
                    for (int k = 0; k < 200; ++k) {
                        if (c.complete(200)) ++taken;
                    }
                });
            }
            go = true;
        }
        for (std::thread &r : racers) r.join();
        CHECKM(taken <= 1, std::to_string(taken.load()));
    }
}

void test_switching_and_failures() {
    section("switching between the built-in client and a host transport while hits are queued");
    Collector col;
    CHECK(col.start());
    SocketTransport transport(SocketTransport::Mode::FailInline);
    EventLog log;
    Tracker t(base_config(col).request_timeout_seconds(10).storage(StorageMode::Required).storage_path(dir("switch")));
    t.on_event(log.handler());
    CHECK_OK(t.set_transport(transport.handler()));

    // Answered "no answer" from inside the handler: kept, nothing reached the collector.
    CHECK_OK(t.send("n=1"));
    CHECK_OK(t.send("n=2"));
    CHECK_OK(t.flush(kFlush));
    CHECK(log.wait(EventKind::Stored, 2));
    CHECK(transport.accepted() == std::vector<bool>(transport.requests().size(), true));
    CHECK(t.offline_count() == 2);
    CHECK(col.count() == 0);

    // Back to the built-in client: the queue drains in order.
    CHECK_OK(t.clear_transport());
    CHECK_OK(t.dispatch());
    CHECK_OK(t.flush(kFlush));
    CHECK(col.wait_for(2));
    CHECK(t.offline_count() == 0);
    for (size_t i = 0; i < 2 && i < col.count(); ++i) {
        CHECKM(query_param(col.line(i), "n") == std::to_string(i + 1), col.line(i));
        CHECK(col.header(i, kViaHeader) == "\x01missing");
    }

    // The host transport again; the collector's status and Retry-After pass through.
    transport.set_mode(SocketTransport::Mode::Complete);
    CHECK_OK(t.set_transport(transport.handler()));
    col.set_status(503);
    col.set_retry_after("1");
    CHECK_OK(t.send("n=3"));
    CHECK_OK(t.flush(kFlush));
    CHECK(col.wait_for(3));
    CHECK(log.wait(EventKind::Stored, 3));
    CHECK(col.header(2, kViaHeader) == "socket");
    const std::vector<Event> stored = log.of(EventKind::Stored);
    if (stored.size() >= 3) CHECKM(stored[2].http_status == 503, std::to_string(stored[2].http_status));
    col.set_status(200);
    col.set_retry_after("");

    // A handler that throws: its request is answered "no answer" at once,
    // instead of holding the worker for the request's 10 s timeout.
    CHECK_OK(t.set_transport([](const Request &, Completion) { throw std::runtime_error("no network stack"); }));
    const auto started = std::chrono::steady_clock::now();
    CHECK_OK(t.dispatch());
    CHECK_OK(t.flush(kFlush));
    const long long took = elapsed_ms(started);
    CHECKM(took < 5000, std::to_string(took) + " ms");
    CHECK(t.transport_handler_failures() >= 1);
    CHECK(t.offline_count() == 1);

    // An empty handler is the built-in client again.
    CHECK_OK(t.set_transport(offtrack::TransportHandler()));
    CHECK_OK(t.dispatch());
    CHECK_OK(t.flush(kFlush));
    CHECK(col.wait_for(4));
    CHECK(t.offline_count() == 0);
    CHECKM(query_param(col.line(3), "n") == "3", col.line(3));
}

}  // namespace

int main(int argc, char **argv) {
    return run_suite(argc, argv, "offtrack-cpp-transport", {
        {"test_types", test_types},
        {"test_exact_hits", test_exact_hits},
        {"test_batch_post", test_batch_post},
        {"test_out_of_order", test_out_of_order},
        {"test_timeout_then_late_answer", test_timeout_then_late_answer},
        {"test_completion_after_destroy", test_completion_after_destroy},
        {"test_switching_and_failures", test_switching_and_failures},
    });
}
