#!/usr/bin/env python3
"""Every function of include/offtrack.h must be called by include/offtrack.hpp.

Parses the C header for its function declarations and looks for a call of each
in the C++ wrapper with comments removed, so a name mentioned only in a comment
does not count. A self-test first shows the check can fail.
Prints "N passed, M failed" last; exits non-zero on a failure.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A declaration starts a statement: return type, optional pointer stars, name, "(".
DECL = re.compile(r"(?:^|;|\})\s*(?:extern\s+)?(?:const\s+)?(?:struct\s+)?[A-Za-z_]\w*\s*\**\s*"
                  r"(tracker_[A-Za-z0-9_]*)\s*\(", re.M)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def declared_functions(header: str) -> list:
    code = strip_comments(header)
    code = re.sub(r"^\s*#.*$", " ", code, flags=re.M)  # preprocessor lines
    names = []
    for m in DECL.finditer(code):
        if m.group(1) not in names:
            names.append(m.group(1))
    return names


def missing_calls(names: list, wrapper: str) -> list:
    code = strip_comments(wrapper)
    return [n for n in names if not re.search(r"\b" + re.escape(n) + r"\s*\(", code)]


passed = 0
failed = 0


def check(ok: bool, what: str) -> None:
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}")


# Self-test: a function only mentioned in a comment, and a typedef of a
# function pointer, must be told apart from real declarations and calls.
fake_header = """
typedef void (*tracker_cb)(const int *e, void *u);
/** tracker_in_comment(void) is not a function */
const char *tracker_a(void);
int32_t tracker_b(struct tracker *t, const char *s);
void tracker_c(char *s);
"""
fake_wrapper = "inline void f() { tracker_a(); /* tracker_b( */ }\n// tracker_c(x)\n"
check(declared_functions(fake_header) == ["tracker_a", "tracker_b", "tracker_c"],
      "self-test: declarations parsed, typedef and comment ignored")
check(missing_calls(["tracker_a", "tracker_b", "tracker_c"], fake_wrapper) == ["tracker_b", "tracker_c"],
      "self-test: calls inside comments do not count")

header = (ROOT / "include" / "offtrack.h").read_text(encoding="utf-8")
wrapper = (ROOT / "include" / "offtrack.hpp").read_text(encoding="utf-8")
functions = declared_functions(header)
# DESIGN.md §2 lists 21 functions; fewer found means the parser missed some.
check(len(functions) >= 21, f"offtrack.h declares {len(functions)} functions")
for name in functions:
    check(name not in missing_calls([name], wrapper), f"offtrack.hpp calls {name}")

print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
