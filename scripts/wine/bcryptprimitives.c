/* For the tests under Wine only, never shipped: Rust's std (1.78 and later) imports ProcessPrng from
 * bcryptprimitives.dll, which every Windows 10 and later has but Wine 8 (Debian 12) lacks, so every
 * Rust program fails to start there (status c0000135). scripts/win.sh builds this stand-in into the
 * test prefix's system32; it fills the buffer from RtlGenRandom (advapi32!SystemFunction036), which
 * Wine has. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG n = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n;
        length -= n;
    }
    return TRUE;
}
