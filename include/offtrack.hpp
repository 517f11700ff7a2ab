/*
 * offtrack.hpp: header-only C++17 wrapper over the Offtrack C API (offtrack.h).
 *
 * Engine-free: it needs only the standard library and the C header, so plain
 * C++ apps and the Unreal plugin share it.
 *
 * Errors: every failing call throws offtrack::Error (a std::runtime_error)
 * carrying the TRACKER_* result code and this thread's tracker_last_error()
 * text, captured at the moment of the failure. Nothing else is thrown by this
 * header except std::bad_alloc. Destructors and the event trampoline never
 * throw.
 *
 * Thread safety: the methods of a live Tracker may be called from any thread
 * at once (the C API is thread-safe), except the ones that change the object
 * itself: construction, destruction, move, close(), on_event(),
 * set_transport() and clear_transport(), which must not race other calls on
 * the same Tracker.
 *
 * Host transport: set_transport() sends the tracker's requests through the
 * app's own HTTP stack. The handler gets a copy of each Request on the
 * worker thread, starts it and returns; the app answers later, from any
 * thread, through the request's Completion. Completions share a guard with
 * their Tracker: once it is destroyed they return false without reaching the
 * library, so an answer arriving late from an HTTP stack is harmless.
 *
 * Configuration: Config writes only the keys that were set, so every other
 * key takes the library's default (the repository README, "Configuration").
 * The one default this header knows is the timestamp parameter's name, which
 * the analytics mapping must avoid (Config::reserved_param_names).
 *
 * Destruction: the event handler stays registered through tracker_destroy,
 * so the DROPPED events the destroy raises (never-mode hits still in memory
 * or in flight) reach it before the destroy returns. Whatever the handler
 * refers to must outlive the Tracker: declare it before the Tracker.
 *
 *     offtrack::Tracker t(offtrack::Config{}
 *                             .endpoint("https://collect.example.com/hit")
 *                             .storage(offtrack::StorageMode::Required)
 *                             .storage_path("/data/app/offtrack")
 *                             .to_json());
 *     t.on_event([](const offtrack::Event& e) { log(e.hit); });  // worker thread
 *     t.send("event=level_start&level=3");
 *     t.dispatch();
 */
#ifndef OFFTRACK_HPP
#define OFFTRACK_HPP

#include "offtrack.h"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace offtrack {

// ------------------------------------------------------------------ enums

/** Storage mode of a tracker (DESIGN.md §1). */
enum class StorageMode : std::int32_t {
    Never = TRACKER_STORAGE_NEVER,
    Required = TRACKER_STORAGE_REQUIRED,
    Always = TRACKER_STORAGE_ALWAYS,
};

/**
 * The player's consent (DESIGN.md §10). Pending keeps hits and sends
 * nothing; Granted releases them; Denied purges and drops.
 */
enum class Consent : std::int32_t {
    Granted = TRACKER_CONSENT_GRANTED,
    Pending = TRACKER_CONSENT_PENDING,
    Denied = TRACKER_CONSENT_DENIED,
};

/** Kind of an Event. */
enum class EventKind : std::int32_t {
    Sent = TRACKER_EVENT_SENT,
    Stored = TRACKER_EVENT_STORED,
    Dropped = TRACKER_EVENT_DROPPED,
};

/** The TRACKER_* result codes. */
enum class Result : std::int32_t {
    Ok = TRACKER_OK,
    NullArgument = TRACKER_ERROR_NULL_ARGUMENT,
    InvalidArgument = TRACKER_ERROR_INVALID_ARGUMENT,
    Config = TRACKER_ERROR_CONFIG,
    Storage = TRACKER_ERROR_STORAGE,
    Locked = TRACKER_ERROR_LOCKED,
    Timeout = TRACKER_ERROR_TIMEOUT,
    Closed = TRACKER_ERROR_CLOSED,
    Panic = TRACKER_ERROR_PANIC,
};

/** Body of a batched POST (the batch_format key). */
enum class BatchFormat {
    Lines,  // text/plain: one hit per line, each the query a GET of it would carry
    Json,   // application/json: {"requests":["?<query>", ...]}
};

/** The configuration spelling of a mode: "never", "required" or "always". */
inline const char *storage_mode_name(StorageMode mode) noexcept {
    switch (mode) {
        case StorageMode::Never: return "never";
        case StorageMode::Required: return "required";
        case StorageMode::Always: return "always";
    }
    return "invalid";
}

/** The configuration spelling of a consent: "granted", "pending" or "denied". */
inline const char *consent_name(Consent consent) noexcept {
    switch (consent) {
        case Consent::Granted: return "granted";
        case Consent::Pending: return "pending";
        case Consent::Denied: return "denied";
    }
    return "invalid";
}

// --------------------------------------------------------- static strings

/** The library's version, e.g. "0.1.0". */
inline std::string_view version() noexcept {
    const char *v = tracker_version();
    return v != nullptr ? std::string_view(v) : std::string_view();
}

/** The name of a result code, e.g. "TRACKER_ERROR_CONFIG". */
inline std::string_view result_name(std::int32_t code) noexcept {
    const char *n = tracker_result_name(code);
    return n != nullptr ? std::string_view(n) : std::string_view();
}

inline std::string_view result_name(Result code) noexcept {
    return result_name(static_cast<std::int32_t>(code));
}

/** This thread's message for its last failed C call ("" if none), copied. */
inline std::string last_error() {
    const char *e = tracker_last_error();
    return e != nullptr ? std::string(e) : std::string();
}

// ------------------------------------------------------------------ error

/**
 * A failed call. what() is "<RESULT_NAME>: <message>"; code() the TRACKER_*
 * value; message() the library's own text (tracker_last_error at the time).
 */
class Error : public std::runtime_error {
public:
    Error(std::int32_t code, std::string message)
        : std::runtime_error(compose(code, message)),
          code_(code),
          // Shared so that copying the exception can never throw.
          message_(std::make_shared<const std::string>(std::move(message))) {}

    std::int32_t code() const noexcept { return code_; }
    Result result() const noexcept { return static_cast<Result>(code_); }
    const std::string &message() const noexcept { return *message_; }

private:
    static std::string compose(std::int32_t code, const std::string &message) {
        std::string s(result_name(code));
        if (s.empty()) s = "TRACKER_UNKNOWN_RESULT";
        if (!message.empty()) {
            s += ": ";
            s += message;
        }
        return s;
    }

    std::int32_t code_;
    std::shared_ptr<const std::string> message_;
};

// ------------------------------------------------------------------ event

/** One event, copied out of the C callback (its pointers die with the call). */
struct Event {
    EventKind kind = EventKind::Sent;
    std::uint64_t id = 0;
    std::string hit;          // the request URL as last built
    std::int32_t http_status = 0;  // 0 if there was no response
    std::string reason;       // why stored/dropped; "" for Sent
};

using EventHandler = std::function<void(const Event &)>;

namespace detail {

[[noreturn]] inline void throw_result(std::int32_t code) { throw Error(code, last_error()); }

// Not called `check`: Unreal defines a macro of that name.
inline void expect_ok(std::int32_t code) {
    if (code != TRACKER_OK) throw_result(code);
}

// std::string is NUL-terminated; an embedded NUL would silently cut the text
// short on the C side, so it is refused before the call.
inline std::string c_copy(std::string_view s, const char *what) {
    if (s.find('\0') != std::string_view::npos) {
        throw Error(TRACKER_ERROR_INVALID_ARGUMENT, std::string(what) + " contains a NUL byte");
    }
    return std::string(s);
}

/** Owns a string returned by the library; frees it with tracker_string_free. */
class LibraryString {
public:
    LibraryString() noexcept = default;
    ~LibraryString() { tracker_string_free(ptr_); }
    LibraryString(const LibraryString &) = delete;
    LibraryString &operator=(const LibraryString &) = delete;

    char **out() noexcept { return &ptr_; }
    std::string str() const { return ptr_ != nullptr ? std::string(ptr_) : std::string(); }

private:
    char *ptr_ = nullptr;
};

/** Heap-allocated, so its address (the callback's user_data) survives moves of the Tracker. */
struct EventSink {
    explicit EventSink(EventHandler h) : handler(std::move(h)) {}
    EventHandler handler;
    std::atomic<std::uint64_t> failures{0};
};

extern "C" {
// C linkage because the library calls it through a C function pointer.
// Runs on the tracker's worker thread.
inline void offtrack_hpp_event_trampoline(const tracker_event *raw, void *user_data) noexcept {
    if (raw == nullptr || user_data == nullptr) return;
    auto *sink = static_cast<EventSink *>(user_data);
    try {
        Event event;
        event.kind = static_cast<EventKind>(raw->kind);
        event.id = raw->id;
        event.hit = raw->hit != nullptr ? raw->hit : "";
        event.http_status = raw->http_status;
        event.reason = raw->reason != nullptr ? raw->reason : "";
        sink->handler(event);
    } catch (...) {
        // Unwinding into the library's worker is undefined behaviour: swallow,
        // count (Tracker::event_handler_failures) and go on with the next event.
        sink->failures.fetch_add(1, std::memory_order_relaxed);
    }
}
}  // extern "C"

inline void append_json_string(std::string &out, std::string_view s) {
    out += '"';
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    out += buf;
                } else {
                    out += ch;  // UTF-8 passes through unchanged
                }
        }
    }
    out += '"';
}

}  // namespace detail

// -------------------------------------------------------------- transport

/** One request header, as the library lists it. */
struct Header {
    std::string name;
    std::string value;
};

/**
 * A request the library asks a host transport to perform, copied out of the
 * C callback (its pointers die with the call). Redirects must not be
 * followed: a 3xx is reported as it came.
 */
struct Request {
    std::uint64_t id = 0;          // unique per process; the Completion carries it too
    std::string method;            // "GET" or "POST"
    std::string url;
    std::string content_type;      // "" for GET
    std::string body;              // raw bytes; "" for GET
    std::vector<Header> headers;   // configured headers and User-Agent, in the library's order
    std::chrono::milliseconds timeout{0};  // the library waits this long, then gives up on it
};

namespace detail {

/**
 * What every Completion of one Tracker shares. `handle` is cleared (under
 * `mutex`) once tracker_destroy has returned, and every completion calls the
 * library under the same mutex, so no completion can reach a destroyed
 * tracker, nor a new one that happens to get the same address.
 */
struct TransportState {
    explicit TransportState(tracker *t) noexcept : handle(t) {}
    std::mutex mutex;
    tracker *handle;
};

struct TransportSink;

}  // namespace detail

/**
 * The answer to one Request. A copyable handle: copy it into whatever
 * finishes the request and call complete() or fail() once, from any thread,
 * also from inside the transport handler. Every call returns whether the
 * library took the outcome; it returns false and changes nothing once the
 * Tracker has been destroyed (so a late answer is harmless), when the
 * request was already completed or has timed out, and for a status that is
 * neither 0 nor 100..599. An empty (default-constructed) Completion returns
 * false for every call.
 */
class Completion {
public:
    Completion() noexcept = default;

    /** The id of the Request this answers. */
    std::uint64_t request_id() const noexcept { return id_; }

    /**
     * The server answered: its HTTP status as received (a 3xx too, never
     * followed) and the text of its Retry-After header, if any ("" for none).
     */
    bool complete(int http_status, std::string_view retry_after = {}) const {
        if (retry_after.empty()) return finish(http_status, nullptr, nullptr);
        const std::string text = truncate_at_nul(retry_after);
        return finish(http_status, text.c_str(), nullptr);
    }

    /** No answer (connection refused, DNS, TLS, timeout…): `error` says why, for logs and events. */
    bool fail(std::string_view error) const {
        const std::string text = truncate_at_nul(error);
        return finish(0, nullptr, text.c_str());
    }

    /** False once the Tracker that issued the request has been destroyed. */
    bool tracker_alive() const {
        if (!state_) return false;
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->handle != nullptr;
    }

private:
    friend struct detail::TransportSink;  // the only maker of non-empty Completions

    Completion(std::shared_ptr<detail::TransportState> state, std::uint64_t id) noexcept
        : state_(std::move(state)), id_(id) {}

    // Texts from a transport's error reporting may carry anything; C sees
    // them up to the first NUL anyway, so that is where they end.
    static std::string truncate_at_nul(std::string_view s) {
        return std::string(s.substr(0, s.find('\0')));
    }

    bool finish(int http_status, const char *retry_after, const char *error) const {
        if (!state_) return false;
        std::lock_guard<std::mutex> lock(state_->mutex);
        if (state_->handle == nullptr) return false;
        return tracker_transport_complete(state_->handle, id_, http_status, retry_after, error) == TRACKER_OK;
    }

    std::shared_ptr<detail::TransportState> state_;
    std::uint64_t id_ = 0;
};

/**
 * A host transport: starts the request (on the tracker's worker thread) and
 * returns at once; the request is finished later through the Completion.
 */
using TransportHandler = std::function<void(const Request &, Completion)>;

namespace detail {

/** Heap-allocated, so its address (the callback's user_data) survives moves of the Tracker. */
struct TransportSink {
    TransportSink(TransportHandler h, std::shared_ptr<TransportState> s)
        : handler(std::move(h)), state(std::move(s)) {}
    Completion completion(std::uint64_t request_id) const { return Completion(state, request_id); }
    TransportHandler handler;
    std::shared_ptr<TransportState> state;
    std::atomic<std::uint64_t> failures{0};
};

inline std::string copy_c_string(const char *s) { return s != nullptr ? std::string(s) : std::string(); }

extern "C" {
// C linkage because the library calls it through a C function pointer.
// Runs on the tracker's worker thread.
inline void offtrack_hpp_transport_trampoline(const tracker_request *raw, void *user_data) noexcept {
    if (raw == nullptr || user_data == nullptr) return;
    auto *sink = static_cast<TransportSink *>(user_data);
    const Completion done = sink->completion(raw->request_id);
    try {
        Request request;
        request.id = raw->request_id;
        request.method = copy_c_string(raw->method);
        request.url = copy_c_string(raw->url);
        request.content_type = copy_c_string(raw->content_type);
        if (raw->body != nullptr && raw->body_len > 0) {
            request.body.assign(reinterpret_cast<const char *>(raw->body), raw->body_len);
        }
        for (const char *const *h = raw->headers; h != nullptr && h[0] != nullptr && h[1] != nullptr; h += 2) {
            request.headers.push_back(Header{h[0], h[1]});
        }
        request.timeout = std::chrono::milliseconds(raw->timeout_ms);
        sink->handler(request, done);
    } catch (...) {
        // Unwinding into the library's worker is undefined behaviour. The
        // request is answered as "no answer" at once, so the worker does not
        // wait for it until its timeout (a no-op if the handler completed it).
        sink->failures.fetch_add(1, std::memory_order_relaxed);
        try {
            done.fail("the transport handler threw an exception");
        } catch (...) {
            // Out of memory for the message: the worker's timeout ends the request.
        }
    }
}
}  // extern "C"

}  // namespace detail

// ----------------------------------------------------------------- config

/**
 * Builds the JSON configuration of tracker_create (README "Configuration").
 * Only the keys that were set are written, so the library's defaults apply to
 * the rest; a key set twice keeps the last value. Values are checked by the
 * library, not here.
 */
class Config {
public:
    Config &endpoint(std::string_view v) { return set_string("endpoint", v); }
    Config &storage_path(std::string_view v) { return set_string("storage_path", v); }
    Config &storage(StorageMode v) { return set_string("storage", storage_mode_name(v)); }
    /** The consent until the app records a choice, which the storage directory then remembers. */
    Config &consent(Consent v) { return set_string("consent", consent_name(v)); }
    Config &timestamp_param(std::string_view v) { return set_string("timestamp_param", v); }
    Config &timestamp_offline_only(bool v) { return set_raw("timestamp_offline_only", v ? "true" : "false"); }
    Config &id_param(std::string_view v) { return set_string("id_param", v); }
    Config &header(std::string_view name, std::string_view value) {
        headers_[std::string(name)] = std::string(value);
        return *this;
    }
    Config &max_attempts(std::uint64_t v) { return set_number("max_attempts", v); }
    Config &max_hit_bytes(std::uint64_t v) { return set_number("max_hit_bytes", v); }
    Config &max_queue_hits(std::uint64_t v) { return set_number("max_queue_hits", v); }
    Config &max_queue_bytes(std::uint64_t v) { return set_number("max_queue_bytes", v); }
    Config &max_memory_hits(std::uint64_t v) { return set_number("max_memory_hits", v); }
    Config &max_age_seconds(std::uint64_t v) { return set_number("max_age_seconds", v); }
    Config &request_timeout_seconds(std::uint64_t v) { return set_number("request_timeout_seconds", v); }
    Config &shutdown_timeout_ms(std::uint64_t v) { return set_number("shutdown_timeout_ms", v); }
    Config &retry_base_ms(std::uint64_t v) { return set_number("retry_base_ms", v); }
    Config &retry_max_ms(std::uint64_t v) { return set_number("retry_max_ms", v); }
    Config &send_interval_ms(std::uint64_t v) { return set_number("send_interval_ms", v); }
    /** URL on the endpoint's origin that takes a POST of many hits; "" turns batching off. */
    Config &batch_endpoint(std::string_view v) { return set_string("batch_endpoint", v); }
    /** The body of a batch: one query per line, or Matomo's JSON bulk format. */
    Config &batch_format(BatchFormat v) { return set_string("batch_format", v == BatchFormat::Json ? "json" : "lines"); }
    /** Most hits in one batch. */
    Config &batch_max_hits(std::uint64_t v) { return set_number("batch_max_hits", v); }
    /** Most body bytes in one batch; a larger hit goes alone as a GET. */
    Config &batch_max_bytes(std::uint64_t v) { return set_number("batch_max_bytes", v); }
    /**
     * 64 hex characters (a 256-bit key): stored hits are sealed with
     * AES-256-GCM (README "Encryption at rest"); "" is off. Keep the key in
     * the platform's secret store (Keychain, Android Keystore, DPAPI), and
     * never log to_json() of a configuration that holds it.
     */
    Config &encryption_key(std::string_view v) { return set_string("encryption_key", v); }

    /** Any key as raw JSON text (for keys newer than this header). */
    Config &set_raw(std::string_view key, std::string_view json_value) {
        for (auto &kv : values_) {
            if (kv.first == key) {
                kv.second = std::string(json_value);
                return *this;
            }
        }
        values_.emplace_back(std::string(key), std::string(json_value));
        return *this;
    }

    /** Whether the key was set; a key that was not takes the library's default. */
    bool has(std::string_view key) const noexcept {
        if (key == "headers" && !headers_.empty()) return true;
        for (const auto &kv : values_) {
            if (kv.first == key) return true;
        }
        return false;
    }

    /**
     * The query parameters a tracker made from this configuration adds to
     * every request itself, so a hit may not carry them (AnalyticsMapper
     * renames such attributes): timestamp_param and id_param, unless empty
     * (turned off). An unset timestamp_param is the library's default, "ts":
     * the one library default this header has to know, because the C API
     * cannot report a tracker's effective settings.
     */
    std::vector<std::string> reserved_param_names() const {
        std::vector<std::string> names;
        if (!has("timestamp_param")) names.emplace_back("ts");
        for (const char *key : {"timestamp_param", "id_param"}) {
            std::optional<std::string> name = plain_string(key);
            if (name && !name->empty()) names.push_back(std::move(*name));
        }
        return names;
    }

    std::string to_json() const {
        std::string out = "{";
        bool first = true;
        auto sep = [&]() {
            if (!first) out += ", ";
            first = false;
        };
        for (const auto &kv : values_) {
            sep();
            detail::append_json_string(out, kv.first);
            out += ": ";
            out += kv.second;
        }
        if (!headers_.empty()) {
            sep();
            out += "\"headers\": {";
            bool first_header = true;
            for (const auto &h : headers_) {
                if (!first_header) out += ", ";
                first_header = false;
                detail::append_json_string(out, h.first);
                out += ": ";
                detail::append_json_string(out, h.second);
            }
            out += "}";
        }
        out += "}";
        return out;
    }

private:
    Config &set_string(std::string_view key, std::string_view v) {
        std::string quoted;
        detail::append_json_string(quoted, v);
        return set_raw(key, quoted);
    }
    Config &set_number(std::string_view key, std::uint64_t v) { return set_raw(key, std::to_string(v)); }

    // The text of a key set to a JSON string without escapes. Parameter names
    // the library accepts (A-Z a-z 0-9 - _ . ~) never need one; a name that
    // does is refused by tracker_create anyway.
    std::optional<std::string> plain_string(std::string_view key) const {
        for (const auto &kv : values_) {
            if (kv.first != key) continue;
            const std::string &v = kv.second;
            if (v.size() >= 2 && v.front() == '"' && v.back() == '"' &&
                v.find('\\') == std::string::npos) {
                return v.substr(1, v.size() - 2);
            }
            return std::nullopt;
        }
        return std::nullopt;
    }

    std::vector<std::pair<std::string, std::string>> values_;  // in the order set
    std::map<std::string, std::string> headers_;
};

// ---------------------------------------------------------------- tracker

/**
 * An owning handle to one C tracker. Move-only; the destructor is close():
 * tracker_destroy (bounded by shutdown_timeout_ms) with the event handler
 * still registered, which is freed only once tracker_destroy has returned and
 * no callback can run any more. A moved-from or closed Tracker is empty: its
 * calls throw Error(TRACKER_ERROR_NULL_ARGUMENT).
 */
class Tracker {
public:
    /** tracker_create. Throws Error (TRACKER_ERROR_CONFIG, _LOCKED, _STORAGE…). */
    explicit Tracker(std::string_view config_json) {
        const std::string config = detail::c_copy(config_json, "configuration");
        tracker *t = nullptr;
        const std::int32_t rc = tracker_create(config.c_str(), &t);
        if (rc != TRACKER_OK) {
            tracker_destroy(t);  // NULL on failure per the contract; harmless either way
            detail::throw_result(rc);
        }
        handle_ = t;
    }

    explicit Tracker(const Config &config) : Tracker(config.to_json()) {}

    ~Tracker() { close(); }

    Tracker(const Tracker &) = delete;
    Tracker &operator=(const Tracker &) = delete;

    Tracker(Tracker &&other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)),
          sink_(std::move(other.sink_)),
          transport_state_(std::move(other.transport_state_)),
          transport_sink_(std::move(other.transport_sink_)) {}

    Tracker &operator=(Tracker &&other) noexcept {
        if (this != &other) {
            close();
            handle_ = std::exchange(other.handle_, nullptr);
            sink_ = std::move(other.sink_);
            transport_state_ = std::move(other.transport_state_);
            transport_sink_ = std::move(other.transport_sink_);
        }
        return *this;
    }

    /**
     * tracker_destroy with the event handler still registered: the DROPPED
     * events of never-mode hits still in memory or in flight reach the
     * handler (on the worker, or on this thread when the worker is stuck in a
     * request) before close() returns; none comes after. A request of a host
     * transport still waiting for its Completion may be completed while the
     * destroy waits for it (at most shutdown_timeout_ms); once close() has
     * returned, every Completion of this tracker returns false. Idempotent.
     */
    void close() noexcept {
        if (handle_ == nullptr) return;
        // Emptied first, so that a handler calling this Tracker during the
        // destroy gets NULL_ARGUMENT instead of racing tracker_destroy.
        tracker *t = std::exchange(handle_, nullptr);
        // Completions stay open during the destroy: the request in flight
        // can still finish and its hit be delivered instead of kept.
        tracker_destroy(t);
        if (transport_state_) {
            std::lock_guard<std::mutex> lock(transport_state_->mutex);
            transport_state_->handle = nullptr;
        }
        // Only now: the library calls back no more once tracker_destroy has
        // returned, and until then a callback may be using the sinks.
        sink_.reset();
        transport_sink_.reset();
    }

    bool valid() const noexcept { return handle_ != nullptr; }
    explicit operator bool() const noexcept { return valid(); }

    /** The C handle, for calls this wrapper does not cover. Still owned by this object. */
    tracker *native_handle() const noexcept { return handle_; }

    // -- modes and delivery --------------------------------------------

    void set_storage(StorageMode mode) {
        detail::expect_ok(tracker_set_storage(handle_, static_cast<std::int32_t>(mode)));
    }

    StorageMode storage() const {
        std::int32_t mode = -1;
        detail::expect_ok(tracker_get_storage(handle_, &mode));
        return static_cast<StorageMode>(mode);
    }

    /** tracker_send: a query string or a full URL on the endpoint's origin. */
    void send(std::string_view hit) {
        const std::string h = detail::c_copy(hit, "hit");
        detail::expect_ok(tracker_send(handle_, h.c_str()));
    }

    /** tracker_dispatch: returns at once; the worker sends every stored hit. */
    void dispatch() { detail::expect_ok(tracker_dispatch(handle_)); }

    /**
     * tracker_flush: waits for work asked for before the call. Throws
     * Error(TRACKER_ERROR_TIMEOUT) when the deadline passes first. Must not
     * be called from an event handler.
     */
    void flush(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
        detail::expect_ok(tracker_flush(handle_, clamp_ms(timeout)));
    }

    void set_online(bool online) { detail::expect_ok(tracker_set_online(handle_, online)); }

    /** The older name of consent: true is Consent::Denied, false Consent::Granted. */
    void set_opt_out(bool opt_out) { detail::expect_ok(tracker_set_opt_out(handle_, opt_out)); }

    /**
     * tracker_set_consent: remembered in the storage directory and winning
     * over Config::consent in later runs. Pending sends nothing (not even on
     * dispatch) and keeps hits; Granted releases them in order; Denied
     * purges the queue and drops new hits.
     */
    void set_consent(Consent consent) {
        detail::expect_ok(tracker_set_consent(handle_, static_cast<std::int32_t>(consent)));
    }

    Consent consent() const {
        std::int32_t value = -1;
        detail::expect_ok(tracker_get_consent(handle_, &value));
        return static_cast<Consent>(value);
    }

    // -- the offline queue -------------------------------------------------

    std::uint64_t offline_count() const {
        std::uint64_t n = 0;
        detail::expect_ok(tracker_offline_count(handle_, &n));
        return n;
    }

    /** Up to `max` stored hits, oldest first, as a JSON array. */
    std::string offline_get(std::uint64_t max) const {
        detail::LibraryString s;
        detail::expect_ok(tracker_offline_get(handle_, max, s.out()));
        return s.str();
    }

    /** The oldest stored hit as a JSON object, or "null". */
    std::string offline_oldest() const {
        detail::LibraryString s;
        detail::expect_ok(tracker_offline_oldest(handle_, s.out()));
        return s.str();
    }

    /** The newest stored hit as a JSON object, or "null". */
    std::string offline_latest() const {
        detail::LibraryString s;
        detail::expect_ok(tracker_offline_latest(handle_, s.out()));
        return s.str();
    }

    /** Deletes every stored hit; returns how many. */
    std::uint64_t offline_delete() {
        std::uint64_t n = 0;
        detail::expect_ok(tracker_offline_delete(handle_, &n));
        return n;
    }

    /** Deletes the oldest stored hits created more than `age` ago; returns how many. */
    std::uint64_t offline_delete_older_than(std::chrono::seconds age) {
        if (age.count() < 0) {
            throw Error(TRACKER_ERROR_INVALID_ARGUMENT, "age must not be negative");
        }
        std::uint64_t n = 0;
        detail::expect_ok(tracker_offline_delete_older_than(
            handle_, static_cast<std::uint64_t>(age.count()), &n));
        return n;
    }

    /** Counters and state as a JSON object. */
    std::string stats() const {
        detail::LibraryString s;
        detail::expect_ok(tracker_stats(handle_, s.out()));
        return s.str();
    }

    // -- events ---------------------------------------------------------

    /**
     * Sets the event handler, called on the tracker's worker thread with a
     * copy of each event (for the hits the destroy drops, possibly on the
     * thread that runs close() or the destructor); an empty function removes
     * it. A handler that throws loses only that event (see
     * event_handler_failures). The handler must not call flush(), close(),
     * on_event() or destroy this Tracker, and what it refers to must outlive
     * the Tracker.
     */
    void on_event(EventHandler handler) {
        if (handle_ == nullptr) {
            // Let the library report the empty handle, as every other call does.
            detail::expect_ok(tracker_set_event_callback(nullptr, nullptr, nullptr));
        }
        // The contract guarantees only that *removal* waits for a running
        // callback, so the old sink is removed before it is freed.
        if (sink_) {
            detail::expect_ok(tracker_set_event_callback(handle_, nullptr, nullptr));
            sink_.reset();
        }
        if (!handler) return;
        auto sink = std::make_unique<detail::EventSink>(std::move(handler));
        detail::expect_ok(
            tracker_set_event_callback(handle_, &detail::offtrack_hpp_event_trampoline, sink.get()));
        sink_ = std::move(sink);
    }

    void clear_event_handler() { on_event(EventHandler()); }

    /** How many events the current handler let an exception escape from. */
    std::uint64_t event_handler_failures() const noexcept {
        return sink_ ? sink_->failures.load(std::memory_order_relaxed) : 0;
    }

    // -- host transport ---------------------------------------------------

    /**
     * Sends the tracker's requests through `handler` instead of the built-in
     * HTTP client (tracker_set_transport); an empty function goes back to the
     * built-in client. The handler runs on the tracker's worker thread with a
     * copy of each request: it starts the request and returns, and the
     * request is finished later, from any thread, through the Completion. A
     * request not completed within its timeout counts as unreachable. A
     * handler that throws has its request answered as "no answer" at once
     * (see transport_handler_failures). The handler must not call
     * set_transport(), clear_transport() or close() on this Tracker, and what
     * it refers to must outlive the Tracker; the Completions themselves may
     * outlive it.
     */
    void set_transport(TransportHandler handler) {
        if (!handler) {
            clear_transport();
            return;
        }
        if (handle_ == nullptr) {
            // Let the library report the empty handle, as every other call does.
            detail::expect_ok(tracker_set_transport(nullptr, nullptr, nullptr));
        }
        if (!transport_state_) transport_state_ = std::make_shared<detail::TransportState>(handle_);
        auto sink = std::make_unique<detail::TransportSink>(std::move(handler), transport_state_);
        detail::expect_ok(
            tracker_set_transport(handle_, &detail::offtrack_hpp_transport_trampoline, sink.get()));
        // The library no longer runs, nor will call, the handler replaced
        // here once tracker_set_transport has returned.
        transport_sink_ = std::move(sink);
    }

    /**
     * Back to the built-in HTTP client. Requests already handed to the host
     * transport may still be completed.
     */
    void clear_transport() {
        detail::expect_ok(tracker_set_transport(handle_, nullptr, nullptr));
        transport_sink_.reset();
    }

    /** How many requests the current transport handler let an exception escape from. */
    std::uint64_t transport_handler_failures() const noexcept {
        return transport_sink_ ? transport_sink_->failures.load(std::memory_order_relaxed) : 0;
    }

private:
    static std::uint32_t clamp_ms(std::chrono::milliseconds timeout) noexcept {
        const auto ms = timeout.count();
        if (ms <= 0) return 0;
        constexpr auto cap = static_cast<std::chrono::milliseconds::rep>(
            (std::numeric_limits<std::uint32_t>::max)());
        return static_cast<std::uint32_t>(ms > cap ? cap : ms);
    }

    tracker *handle_ = nullptr;
    std::unique_ptr<detail::EventSink> sink_;
    std::shared_ptr<detail::TransportState> transport_state_;
    std::unique_ptr<detail::TransportSink> transport_sink_;
};

// ------------------------------------------------------ analytics mapping

/** One name/value pair of an analytics event. */
struct Attribute {
    std::string name;
    std::string value;
};
using Attributes = std::vector<Attribute>;

/**
 * Percent-encodes everything but RFC 3986 unreserved bytes. The library only
 * encodes bytes that cannot stand in a URL; '&', '=', '+', '%' and '#' inside
 * a name or value would otherwise change the meaning of the query string.
 */
inline std::string encode_component(std::string_view s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                                c == '~';
        if (unreserved) {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0x0F];
        }
    }
    return out;
}

/**
 * Turns analytics calls (Unreal's IAnalyticsProvider shape) into hits:
 *
 *   event(name, attrs)   -> event=<name>[&sid=<sid>][&uid=<uid>]{&<default attr>}{&<attr>}
 *   start_session(attrs) -> event=session_start&sid=<sid>[&uid=…]{&<attr>}
 *   end_session()        -> event=session_end&sid=<sid>[&uid=…]
 *
 * Names and values are percent-encoded (encode_component). An attribute whose
 * name is taken by the mapping (event, sid, uid) or by the tracker
 * (reserved_names: its timestamp_param and id_param, which the library refuses
 * in a hit; Config::reserved_param_names gives them, and the default is those
 * of a configuration that sets neither) is sent as "attr_<name>"; an
 * attribute with an empty name is left out. Not thread-safe: callers
 * serialise access.
 */
class AnalyticsMapper {
public:
    explicit AnalyticsMapper(std::vector<std::string> reserved_names = Config().reserved_param_names())
        : reserved_(std::move(reserved_names)) {
        reserved_.emplace_back("event");
        reserved_.emplace_back("sid");
        reserved_.emplace_back("uid");
    }

    /**
     * Starts a session; returns its session_start hit, or nothing when a
     * session is already running (repeated calls are ignored, as Unreal's
     * interface specifies). The id is the one set by set_session_id() since
     * the last session ended, or a new random one.
     */
    std::optional<std::string> start_session(const Attributes &attrs = {}) {
        if (in_session_) return std::nullopt;
        if (session_id_.empty()) session_id_ = new_session_id();
        in_session_ = true;
        return build("session_start", attrs, false);
    }

    /** Ends the session; returns its session_end hit, or nothing without a session. */
    std::optional<std::string> end_session() {
        if (!in_session_) return std::nullopt;
        std::string hit = build("session_end", {}, false);
        in_session_ = false;
        session_id_.clear();
        return hit;
    }

    /** The hit for one event. */
    std::string event(std::string_view name, const Attributes &attrs = {}) const {
        return build(name, attrs, true);
    }

    bool in_session() const noexcept { return in_session_; }

    /** The running session's id, or the one chosen for the next session, or "". */
    const std::string &session_id() const noexcept { return session_id_; }

    /**
     * Sets the id of the running session (later hits carry it) or, between
     * sessions, of the next one. An empty id is refused (returns false).
     */
    bool set_session_id(std::string_view id) {
        if (id.empty()) return false;
        session_id_ = std::string(id);
        return true;
    }

    /** Later hits carry uid=<id>; "" stops it. */
    void set_user_id(std::string_view id) { user_id_ = std::string(id); }
    const std::string &user_id() const noexcept { return user_id_; }

    /** Attributes added to every event() hit, before the event's own. */
    void set_default_attributes(Attributes attrs) { defaults_ = std::move(attrs); }
    const Attributes &default_attributes() const noexcept { return defaults_; }

    /** 32 random hex digits. */
    static std::string new_session_id() {
        std::uint64_t seed = static_cast<std::uint64_t>(
            std::chrono::high_resolution_clock::now().time_since_epoch().count());
        try {
            std::random_device rd;
            seed ^= (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
        } catch (...) {
            // No entropy source on this platform: the clock alone still
            // separates sessions of one device.
        }
        std::mt19937_64 gen(seed);
        static const char hex[] = "0123456789abcdef";
        std::string id;
        for (int word = 0; word < 2; ++word) {
            std::uint64_t v = gen();
            for (int i = 0; i < 16; ++i) {
                id += hex[v & 0x0F];
                v >>= 4;
            }
        }
        return id;
    }

private:
    std::string build(std::string_view name, const Attributes &attrs, bool with_defaults) const {
        std::string hit = "event=";
        hit += encode_component(name);
        if (in_session_ && !session_id_.empty()) {
            hit += "&sid=";
            hit += encode_component(session_id_);
        }
        if (!user_id_.empty()) {
            hit += "&uid=";
            hit += encode_component(user_id_);
        }
        if (with_defaults) append(hit, defaults_);
        append(hit, attrs);
        return hit;
    }

    void append(std::string &hit, const Attributes &attrs) const {
        for (const Attribute &a : attrs) {
            if (a.name.empty()) continue;
            hit += '&';
            if (is_reserved(a.name)) hit += "attr_";
            hit += encode_component(a.name);
            hit += '=';
            hit += encode_component(a.value);
        }
    }

    bool is_reserved(const std::string &name) const {
        for (const std::string &r : reserved_) {
            if (!r.empty() && r == name) return true;
        }
        return false;
    }

    std::vector<std::string> reserved_;
    std::string session_id_;
    std::string user_id_;
    Attributes defaults_;
    bool in_session_ = false;
};

}  // namespace offtrack

#endif  // OFFTRACK_HPP
