/*
 * What the C test needs from the system, for POSIX (Linux, under qemu for
 * aarch64 too) and for Windows (mingw-w64, run under Wine): clocks, sleep,
 * a watchdog, a temporary directory and its removal, sockets. Test-only;
 * the library has its own platform layer (src/os).
 */
#ifndef OFFTRACK_TEST_PLATFORM_H
#define OFFTRACK_TEST_PLATFORM_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <direct.h>
#include <dirent.h>
#include <io.h>
#include <process.h>
#include <sys/stat.h>
typedef SOCKET sock_t;
#define BAD_SOCKET INVALID_SOCKET
#define MSG_NOSIGNAL 0
typedef int ssize_t_compat;
#else
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
typedef int sock_t;
#define BAD_SOCKET (-1)
typedef ssize_t ssize_t_compat;
#endif

/* The wall clock in seconds as the library reads it. Not time(NULL): on
 * Linux that reads the coarse clock, up to a tick behind, so a hit made
 * just after a second began could carry a `ts` above a later time(NULL). */
static inline time_t wall_seconds(void) {
#ifdef _WIN32
    FILETIME ft;
    ULARGE_INTEGER t;
    GetSystemTimeAsFileTime(&ft);
    t.LowPart = ft.dwLowDateTime;
    t.HighPart = ft.dwHighDateTime;
    /* 100 ns units since 1601 */
    return (time_t)(t.QuadPart / 10000000ULL - 11644473600ULL);
#else
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return now.tv_sec;
#endif
}

static inline void sleep_ms(long ms) {
#ifdef _WIN32
    Sleep((DWORD)ms);
#else
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
#endif
}

static inline long long now_ms(void) {
#ifdef _WIN32
    return (long long)GetTickCount64();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#endif
}

/* Every library call is bounded, so a hang is a bug: fail loudly instead. */
#ifdef _WIN32
static inline unsigned __stdcall watchdog_main(void *arg) {
    Sleep((DWORD)(uintptr_t)arg * 1000);
    fputs("FAIL watchdog: test did not finish in time\n", stderr);
    fflush(stderr);
    _exit(3);
    return 0;
}

static inline void start_watchdog(unsigned seconds) {
    _beginthreadex(NULL, 0, watchdog_main, (void *)(uintptr_t)seconds, 0, NULL);
}
#else
static inline void on_alarm(int sig) {
    static const char msg[] = "FAIL watchdog: test did not finish in time\n";
    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing left to do */
    }
    _exit(3);
}

static inline void start_watchdog(unsigned seconds) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    alarm(seconds);
}
#endif

/* Removes a directory tree (the test's temporary root). */
#ifdef _WIN32
static inline void rm_rf(const char *path) {
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char child[2048];
            struct stat st;
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            if (stat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
                rm_rf(child);
            } else {
                remove(child);
            }
        }
        closedir(d);
    }
    _rmdir(path);
}
#else
static inline int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void rm_rf(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }
#endif

/* Creates a fresh directory under the system's temporary folder, with
 * forward slashes (it goes into JSON configs unescaped). */
static inline bool make_temp_root(char *out, size_t cap) {
#ifdef _WIN32
    char base[MAX_PATH + 1];
    DWORD n = GetTempPathA(sizeof base, base);
    size_t i;
    if (n == 0 || n > MAX_PATH) return false;
    snprintf(out, cap, "%sofftrack-ctest-%lu-%llu", base, (unsigned long)GetCurrentProcessId(),
             (unsigned long long)GetTickCount64());
    for (i = 0; out[i] != '\0'; i++) {
        if (out[i] == '\\') out[i] = '/';
    }
    return _mkdir(out) == 0;
#else
    const char *tmp = getenv("TMPDIR");
    snprintf(out, cap, "%s/offtrack-ctest-XXXXXX", (tmp != NULL && tmp[0] != '\0') ? tmp : "/tmp");
    return mkdtemp(out) != NULL;
#endif
}

/* Whether the storage directory is owner-only as the platform means it:
 * mode 0700 on POSIX; on Windows folders inherit the ACL of their parent
 * (README "Platforms"), so only its existence is checked there. */
static inline bool dir_is_owner_only(const char *dir, unsigned *mode_out) {
    struct stat st;
    memset(&st, 0, sizeof st);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return false;
    *mode_out = (unsigned)(st.st_mode & 0777);
#ifdef _WIN32
    return true;
#else
    return *mode_out == 0700;
#endif
}

static inline bool net_init(void) {
#ifdef _WIN32
    WSADATA wsa;
    return WSAStartup(MAKEWORD(2, 2), &wsa) == 0;
#else
    return true;
#endif
}

static inline void sock_close(sock_t s) {
#ifdef _WIN32
    closesocket(s);
#else
    close(s);
#endif
}

/* Waits up to timeout_ms for a connection to accept. */
static inline bool sock_readable(sock_t s, int timeout_ms) {
#ifdef _WIN32
    WSAPOLLFD p;
    p.fd = s;
    p.events = POLLRDNORM;
    p.revents = 0;
    return WSAPoll(&p, 1, timeout_ms) > 0;
#else
    struct pollfd p;
    p.fd = s;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, timeout_ms) > 0;
#endif
}

/* Receive/send timeouts of an accepted connection. */
static inline void sock_timeouts(sock_t s, int seconds) {
#ifdef _WIN32
    DWORD ms = (DWORD)seconds * 1000;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&ms, sizeof ms);
#else
    struct timeval tv;
    tv.tv_sec = seconds;
    tv.tv_usec = 0;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
#endif
}

#endif
