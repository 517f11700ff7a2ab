// A C++17 program as a user of the installed package builds it, through
// <offtrack.hpp>: sends one hit carrying its tag and waits until the worker
// has sent it.
//   consumer_cpp ENDPOINT TAG
#include <chrono>
#include <cstdio>
#include <string>

#include <offtrack.hpp>

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s ENDPOINT TAG\n", argv[0]);
        return 2;
    }
    const std::string hit = std::string("consumer=") + argv[2];
    try {
        offtrack::Tracker t(offtrack::Config{}.endpoint(argv[1]));
        t.send(hit);
        t.flush(std::chrono::milliseconds(10000));
    } catch (const offtrack::Error &e) {
        std::fprintf(stderr, "%s: %s\n", argv[2], e.what());
        return 1;
    }
    std::printf("%s: offtrack %s sent %s\n", argv[2], tracker_version(), hit.c_str());
    return 0;
}
