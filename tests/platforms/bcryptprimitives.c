/*
 * Test-only stand-in for Windows' bcryptprimitives.dll, which Wine 8 lacks:
 * Rust's std imports ProcessPrng from it. Built by tests/platforms/windows.sh
 * beside the test programs under Wine; never shipped, never needed on Windows.
 */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    return BCryptGenRandom(NULL, data, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0;
}
