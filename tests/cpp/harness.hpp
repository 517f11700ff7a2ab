// Shared by the C++ test programs: checks, a real HTTP collector on
// 127.0.0.1 (a thread of the process) and the program's main loop. Included
// once per program, so everything lives in an unnamed namespace.
#ifndef OFFTRACK_TEST_HARNESS_HPP
#define OFFTRACK_TEST_HARNESS_HPP

#include "offtrack.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using offtrack::Error;
using offtrack::Event;
using offtrack::EventKind;
using offtrack::StorageMode;
using offtrack::Tracker;

// ------------------------------------------------------------------ checks

namespace {

int g_passed = 0;
int g_failed = 0;

inline void check_impl(bool ok, const char *expr, const char *file, int line, const std::string &detail) {
    if (ok) {
        ++g_passed;
        return;
    }
    ++g_failed;
    std::fprintf(stderr, "FAIL %s:%d: %s", file, line, expr);
    if (!detail.empty()) std::fprintf(stderr, " -- %s", detail.c_str());
    std::fputc('\n', stderr);
}

#define CHECK(cond) check_impl(static_cast<bool>(cond), #cond, __FILE__, __LINE__, std::string())
#define CHECKM(cond, msg) check_impl(static_cast<bool>(cond), #cond, __FILE__, __LINE__, (msg))

// The statement must throw offtrack::Error with the given TRACKER_* code.
#define CHECK_THROWS(stmt, expected)                                                        \
    do {                                                                                    \
        int got_ = -1;                                                                      \
        std::string what_ = "(no exception)";                                               \
        try {                                                                               \
            stmt;                                                                           \
        } catch (const offtrack::Error &e_) {                                               \
            got_ = e_.code();                                                               \
            what_ = e_.what();                                                              \
        } catch (const std::exception &e_) {                                                \
            what_ = std::string("other exception: ") + e_.what();                          \
        }                                                                                   \
        check_impl(got_ == (expected), #stmt, __FILE__, __LINE__,                           \
                   "expected " + std::string(offtrack::result_name(expected)) + ", got " + \
                       what_);                                                              \
    } while (0)

// The statement must not throw.
#define CHECK_OK(stmt)                                                             \
    do {                                                                           \
        std::string what_;                                                         \
        bool ok_ = true;                                                           \
        try {                                                                      \
            stmt;                                                                  \
        } catch (const std::exception &e_) {                                       \
            ok_ = false;                                                           \
            what_ = e_.what();                                                     \
        }                                                                          \
        check_impl(ok_, #stmt, __FILE__, __LINE__, "threw " + what_);              \
    } while (0)

inline void section(const char *name) { std::printf("== %s\n", name); std::fflush(stdout); }

constexpr auto kFlush = 10000ms;
constexpr auto kWait = 5000ms;

template <class Pred>
inline bool wait_until(Pred pred, std::chrono::milliseconds timeout = kWait) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

// The wall clock in seconds as the library reads it. Not std::time: on
// Linux that reads the coarse clock, up to a tick behind, so a hit made
// just after a second began could carry a `ts` above a later std::time.
inline long long wall_seconds() {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

inline bool contains(const std::string &hay, const std::string &needle) {
    return hay.find(needle) != std::string::npos;
}

// Value of `key` in the query of a request line or URL.
inline std::string query_param(const std::string &url, const std::string &key) {
    auto q = url.find('?');
    if (q == std::string::npos) return "\x01missing";
    std::string query = url.substr(q + 1);
    auto sp = query.find(' ');
    if (sp != std::string::npos) query.resize(sp);
    std::stringstream ss(query);
    std::string part;
    while (std::getline(ss, part, '&')) {
        auto eq = part.find('=');
        if (eq != std::string::npos && part.compare(0, eq, key) == 0 && eq == key.size()) {
            return part.substr(eq + 1);
        }
    }
    return "\x01missing";
}

inline bool has_param(const std::string &url, const std::string &key) {
    return query_param(url, key) != "\x01missing";
}

// ---------------------------------------------------------------- collector

class Collector {
public:
    Collector() = default;
    Collector(const Collector &) = delete;
    Collector &operator=(const Collector &) = delete;
    ~Collector() { stop(); }

    // Listens on the same port as before (or a new one the first time).
    bool start() {
        if (running_) return true;
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) return false;
        int one = 1;
        // Lets the port be bound again while old connections sit in TIME_WAIT.
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(port_));
        if (::bind(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
            ::listen(fd_, 16) != 0) {
            ::close(fd_);
            fd_ = -1;
            return false;
        }
        socklen_t len = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr *>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        stop_ = false;
        thread_ = std::thread([this] { run(); });
        running_ = true;
        return true;
    }

    // Closes the listening socket: connections are refused until start().
    void stop() {
        if (!running_) return;
        stop_ = true;
        thread_.join();
        ::close(fd_);
        fd_ = -1;
        running_ = false;
    }

    // A port on which nothing listens (for "collector down" from the start).
    bool reserve_port_down() { return start() && (stop(), true); }

    int port() const { return port_; }
    std::string url(const std::string &path = "/collect") const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }
    void set_status(int status) { status_ = status; }
    // Sent with every answer while not empty.
    void set_retry_after(const std::string &value) {
        std::lock_guard<std::mutex> lock(mu_);
        retry_after_ = value;
    }
    void set_delay(std::chrono::milliseconds d) { delay_ms_ = static_cast<int>(d.count()); }

    size_t count() const {
        std::lock_guard<std::mutex> lock(mu_);
        return lines_.size();
    }
    std::string line(size_t i) const {
        std::lock_guard<std::mutex> lock(mu_);
        return i < lines_.size() ? lines_[i] : std::string();
    }
    // The value of a request's header (names compared without case), or "\x01missing".
    std::string header(size_t i, const std::string &name) const {
        std::lock_guard<std::mutex> lock(mu_);
        if (i >= heads_.size()) return "\x01missing";
        std::stringstream ss(heads_[i]);
        std::string field;
        while (std::getline(ss, field)) {
            if (!field.empty() && field.back() == '\r') field.pop_back();
            const auto colon = field.find(':');
            if (colon == std::string::npos || colon != name.size()) continue;
            if (!std::equal(name.begin(), name.end(), field.begin(), [](char a, char b) {
                    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
                })) {
                continue;
            }
            const auto start = field.find_first_not_of(' ', colon + 1);
            return start == std::string::npos ? std::string() : field.substr(start);
        }
        return "\x01missing";
    }
    // The body of a request, as far as its Content-Length says.
    std::string body(size_t i) const {
        std::lock_guard<std::mutex> lock(mu_);
        return i < bodies_.size() ? bodies_[i] : std::string();
    }
    bool wait_for(size_t n, std::chrono::milliseconds timeout = kWait) const {
        return wait_until([&] { return count() >= n; }, timeout);
    }

private:
    void run() {
        while (!stop_) {
            pollfd p{};
            p.fd = fd_;
            p.events = POLLIN;
            if (::poll(&p, 1, 20) > 0) {
                int c = ::accept(fd_, nullptr, nullptr);
                if (c >= 0) serve(c);
            }
        }
    }

    void serve(int c) {
        timeval tv{};
        tv.tv_sec = 3;
        ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        std::string req;
        char buf[4096];
        while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
            ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) break;
            req.append(buf, static_cast<size_t>(n));
        }
        if (!req.empty()) {
            const auto head_end = req.find("\r\n\r\n");
            std::string head = req.substr(0, head_end);
            std::string rest = head_end == std::string::npos ? std::string() : req.substr(head_end + 4);
            const std::string length = content_length(head);
            const size_t want = length.empty() ? 0 : static_cast<size_t>(std::strtoull(length.c_str(), nullptr, 10));
            while (rest.size() < want) {
                ssize_t n = ::recv(c, buf, sizeof buf, 0);
                if (n <= 0) break;
                rest.append(buf, static_cast<size_t>(n));
            }
            std::string retry_after;
            {
                std::lock_guard<std::mutex> lock(mu_);
                lines_.push_back(req.substr(0, req.find("\r\n")));
                heads_.push_back(head);
                bodies_.push_back(rest.substr(0, want));
                retry_after = retry_after_;
            }
            if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
            const int status = status_;
            std::string reply = "HTTP/1.1 " + std::to_string(status) +
                                (status == 200 ? " OK" : " Internal Server Error") + "\r\n";
            if (!retry_after.empty()) reply += "Retry-After: " + retry_after + "\r\n";
            reply += "Content-Length: 0\r\nConnection: close\r\n\r\n";
            (void)::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
        }
        ::close(c);
    }

    static std::string content_length(const std::string &head) {
        std::string lower = head;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](char ch) { return static_cast<char>(std::tolower(static_cast<unsigned char>(ch))); });
        const auto at = lower.find("\r\ncontent-length:");
        if (at == std::string::npos) return std::string();
        const auto start = at + std::strlen("\r\ncontent-length:");
        const auto end = lower.find("\r\n", start);
        return head.substr(start, end == std::string::npos ? std::string::npos : end - start);
    }

    int fd_ = -1;
    int port_ = 0;
    bool running_ = false;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> status_{200};
    std::atomic<int> delay_ms_{0};
    mutable std::mutex mu_;
    std::vector<std::string> lines_;
    std::vector<std::string> heads_;   // request line and header fields
    std::vector<std::string> bodies_;
    std::string retry_after_;
};

// ------------------------------------------------------------------ events

class EventLog {
public:
    offtrack::EventHandler handler() {
        return [this](const Event &e) {
            std::lock_guard<std::mutex> lock(mu_);
            events_.push_back(e);
        };
    }
    size_t count(EventKind kind) const {
        std::lock_guard<std::mutex> lock(mu_);
        return static_cast<size_t>(std::count_if(events_.begin(), events_.end(),
                                                 [&](const Event &e) { return e.kind == kind; }));
    }
    size_t total() const {
        std::lock_guard<std::mutex> lock(mu_);
        return events_.size();
    }
    bool wait(EventKind kind, size_t n, std::chrono::milliseconds timeout = kWait) const {
        return wait_until([&] { return count(kind) >= n; }, timeout);
    }
    std::vector<Event> of(EventKind kind) const {
        std::lock_guard<std::mutex> lock(mu_);
        std::vector<Event> out;
        for (const Event &e : events_) {
            if (e.kind == kind) out.push_back(e);
        }
        return out;
    }

private:
    mutable std::mutex mu_;
    std::vector<Event> events_;
};

// ------------------------------------------------------------------- setup

fs::path g_root;

inline std::string dir(const std::string &name) { return (g_root / name).string(); }

// Long backoff: delivery in the tests comes from explicit calls, not timers.
inline offtrack::Config base_config(const Collector &col) {
    offtrack::Config c;
    c.endpoint(col.url()).request_timeout_seconds(2).retry_base_ms(60000).retry_max_ms(60000);
    return c;
}

inline void on_alarm(int) {
    static const char msg[] = "FAIL watchdog: test did not finish in time\n";
    ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    _exit(3);
}

inline void run(const char *name, void (*fn)()) {
    try {
        fn();
    } catch (const std::exception &e) {
        check_impl(false, name, __FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    }
}

using TestCase = std::pair<const char *, void (*)()>;

// The main of a test program: runs each test under a watchdog in a fresh
// temporary directory and prints "N passed, M failed" last.
inline int run_suite(int argc, char **argv, const char *dir_prefix, std::initializer_list<TestCase> tests) {
    // `--probe` exits at once: run.sh uses it to see whether LeakSanitizer,
    // which checks at exit, can work in this environment.
    if (argc > 1 && std::strcmp(argv[1], "--probe") == 0) return 0;
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    struct sigaction sa {};
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    alarm(240);

    const char *tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && tmp[0] != '\0' ? tmp : "/tmp") + "/" + dir_prefix + "-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
        std::perror("mkdtemp");
        return 2;
    }
    g_root = buf.data();

    for (const TestCase &test : tests) run(test.first, test.second);

    std::error_code ec;
    fs::remove_all(g_root, ec);
    std::printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}

}  // namespace

#endif  // OFFTRACK_TEST_HARNESS_HPP
