#!/usr/bin/env python3
"""Hedged reads from Python through libultraslayer's C ABI, with nothing but ctypes.

    cargo build --release --no-default-features        # the C library (no napi symbols)
    ULTRASLAYER_LIB=target/release/libultraslayer.so python3 examples/ctypes_example.py

The structs and constants mirror include/ultraslayer.h. Errors come back as status codes; the
wrapper below turns them into Python exceptions carrying us_last_error()'s message.
Prints what it does and "ok" last; tests/capi.rs runs it.
"""

import ctypes as C
import math
import os
import struct
import sys

# ---- the ABI, as in include/ultraslayer.h ----------------------------------------------------

US_ABI_VERSION = 2
US_OK, US_ERR_TYPE, US_ERR_RANGE, US_ERR_SYSTEM, US_ERR_NULL, US_ERR_BUSY, US_ERR_PANIC = range(7)
US_PAGES_AUTO, US_PAGES_1G, US_PAGES_2M, US_PAGES_THP, US_PAGES_OFF = range(5)
PAGE_KIND_NAMES = {1: "1g", 2: "2m", 3: "thp", 4: "4k"}
US_LOCK_AUTO, US_LOCK_OFF, US_LOCK_REQUIRED = -1, 0, 1
US_STRATEGY_AUTO, US_STRATEGY_HEDGE, US_STRATEGY_STEER, US_STRATEGY_DIRECT = range(4)
STRATEGY_NAMES = ["auto", "hedge", "steer", "direct"]
US_PLACEMENT_AUTO, US_PLACEMENT_REFRESH_GROUPS, US_PLACEMENT_OFFSET = range(3)
US_CHANNEL_OFFSET_DEFAULT, US_CHANNEL_OFFSET_AUTO = 0, 1
US_SPIN_BUSY, US_SPIN_HYBRID, US_SPIN_SLEEP = range(3)
US_MAX_REPLICAS = 8


class Options(C.Structure):
    _fields_ = [
        ("size", C.c_size_t),
        ("slots", C.c_uint64),
        ("replicas", C.c_uint32),
        ("channel_offset", C.c_uint32),
        ("huge_pages", C.c_int32),
        ("lock", C.c_int32),
        ("cores", C.POINTER(C.c_uint32)),
        ("core_count", C.c_size_t),
        ("idle_us", C.c_int64),
        ("spin", C.c_int32),
        ("start", C.c_int32),
        ("record_latency", C.c_int32),
        ("strategy", C.c_int32),
        ("placement", C.c_int32),
        ("placement_budget_ms", C.c_int64),
    ]


class Info(C.Structure):
    _fields_ = [
        ("size", C.c_size_t),
        ("slots", C.c_uint64),
        ("replicas", C.c_uint32),
        ("channel_offset", C.c_uint32),
        ("page_kind", C.c_int32),
        ("locked", C.c_int32),
        ("running", C.c_int32),
        ("shared_cores", C.c_int32),
        ("spin", C.c_int32),
        ("recording", C.c_int32),
        ("page_size", C.c_uint64),
        ("mapped_bytes", C.c_uint64),
        ("thp_bytes", C.c_uint64),
        ("idle_us", C.c_uint64),
        ("cores", C.c_uint32 * US_MAX_REPLICAS),
        ("strategy", C.c_int32),
        ("strategy_requested", C.c_int32),
    ]


class Stats(C.Structure):
    _fields_ = [
        ("size", C.c_size_t),
        ("hedged", C.c_uint64),
        ("direct", C.c_uint64),
        ("direct_while_parked", C.c_uint64),
        ("direct_after_timeout", C.c_uint64),
        ("wins", C.c_uint64 * US_MAX_REPLICAS),
        ("latency_count", C.c_uint64),
        ("latency_min_ns", C.c_uint64),
        ("latency_mean_ns", C.c_double),
        ("latency_p50_ns", C.c_uint64),
        ("latency_p90_ns", C.c_uint64),
        ("latency_p99_ns", C.c_uint64),
        ("latency_p999_ns", C.c_uint64),
        ("latency_p9999_ns", C.c_uint64),
        ("latency_max_ns", C.c_uint64),
    ]


# The header's _Static_asserts, checked from this side.
assert C.sizeof(Options) == 88 and C.sizeof(Info) == 120 and C.sizeof(Stats) == 176


def load(path=None):
    lib = C.CDLL(path or os.environ.get("ULTRASLAYER_LIB", "libultraslayer.so"))
    H = C.c_void_p  # us_slayer*
    u32p, u64p, f64p = C.POINTER(C.c_uint32), C.POINTER(C.c_uint64), C.POINTER(C.c_double)
    sigs = {
        "us_abi_version": (C.c_uint32, []),
        "us_options_default": (None, [C.POINTER(Options)]),
        "us_create": (C.c_int, [C.POINTER(Options), C.POINTER(H)]),
        "us_destroy": (None, [H]),
        "us_start": (C.c_int, [H]),
        "us_stop": (C.c_int, [H]),
        "us_read_u64": (C.c_int, [H, C.c_uint64, u64p]),
        "us_read_f64": (C.c_int, [H, C.c_uint64, f64p]),
        "us_write_u64": (C.c_int, [H, C.c_uint64, C.c_uint64]),
        "us_write_f64": (C.c_int, [H, C.c_uint64, C.c_double]),
        "us_read_replica_u64": (C.c_int, [H, C.c_uint32, C.c_uint64, u64p]),
        "us_read_many_u64": (C.c_int, [H, u32p, C.c_size_t, u64p]),
        "us_read_many_f64": (C.c_int, [H, u32p, C.c_size_t, f64p]),
        "us_write_many_u64": (C.c_int, [H, u32p, C.c_size_t, u64p]),
        "us_write_many_f64": (C.c_int, [H, u32p, C.c_size_t, f64p]),
        "us_get_info": (C.c_int, [H, C.POINTER(Info)]),
        "us_strategy_reason": (C.c_int, [H, C.c_char_p, C.c_size_t, C.POINTER(C.c_size_t)]),
        "us_get_stats": (C.c_int, [H, C.POINTER(Stats)]),
        "us_reset_stats": (C.c_int, [H]),
        "us_set_learn_duty_percent": (C.c_int, [H, C.c_uint32, C.POINTER(C.c_int)]),
        "us_last_error": (C.c_char_p, []),
        "us_status_name": (C.c_char_p, [C.c_int]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    if lib.us_abi_version() != US_ABI_VERSION:
        raise RuntimeError(f"libultraslayer ABI {lib.us_abi_version()}, this script knows {US_ABI_VERSION}")
    return lib


class UltraslayerError(Exception):
    def __init__(self, lib, code):
        self.code = code
        self.status = lib.us_status_name(code).decode()
        super().__init__(f"{self.status}: {lib.us_last_error().decode()}")


# ---- a small Pythonic wrapper ----------------------------------------------------------------


class Slab:
    """One mirrored slab. Reads are hedged across the replica threads; writes store every copy."""

    def __init__(self, lib, slots, **options):
        self.lib, self.h = lib, C.c_void_p()
        o = Options()
        lib.us_options_default(C.byref(o))
        o.slots = slots
        cores = options.pop("cores", None)
        for k, v in options.items():
            setattr(o, k, v)  # AttributeError for a misspelled option, not silence
        if cores is not None:
            self._cores = (C.c_uint32 * len(cores))(*cores)  # kept alive past us_create
            o.cores, o.core_count = self._cores, len(cores)
        self._check(lib.us_create(C.byref(o), C.byref(self.h)))

    def _check(self, rc):
        if rc != US_OK:
            raise UltraslayerError(self.lib, rc)

    def close(self):
        self.lib.us_destroy(self.h)  # NULL-safe, so closing twice is fine
        self.h = C.c_void_p()

    __enter__ = lambda self: self
    __exit__ = lambda self, *exc: self.close()

    def __getitem__(self, i):
        v = C.c_uint64()
        self._check(self.lib.us_read_u64(self.h, i, C.byref(v)))
        return v.value

    def __setitem__(self, i, value):
        if isinstance(value, float):
            self._check(self.lib.us_write_f64(self.h, i, value))
        else:
            self._check(self.lib.us_write_u64(self.h, i, value))

    def read_f64(self, i):
        v = C.c_double()
        self._check(self.lib.us_read_f64(self.h, i, C.byref(v)))
        return v.value

    def read_many(self, indices):
        n = len(indices)
        idx, out = (C.c_uint32 * n)(*indices), (C.c_uint64 * n)()
        self._check(self.lib.us_read_many_u64(self.h, idx, n, out))
        return list(out)

    def write_many(self, indices, values):
        n = len(indices)
        idx, vals = (C.c_uint32 * n)(*indices), (C.c_uint64 * len(values))(*values)
        self._check(self.lib.us_write_many_u64(self.h, idx, n, vals) if n == len(values) else US_ERR_RANGE)

    def stop(self):
        self._check(self.lib.us_stop(self.h))

    def start(self):
        self._check(self.lib.us_start(self.h))

    def info(self):
        i = Info(size=C.sizeof(Info))
        self._check(self.lib.us_get_info(self.h, C.byref(i)))
        return i

    def strategy_reason(self):
        n = C.c_size_t()
        self._check(self.lib.us_strategy_reason(self.h, None, 0, C.byref(n)))
        buf = C.create_string_buffer(n.value + 1)
        self._check(self.lib.us_strategy_reason(self.h, buf, len(buf), C.byref(n)))
        return buf.value.decode()

    def set_learn_duty_percent(self, percent):
        """The background learner's share of one core (1-100); False when nothing learns."""
        applied = C.c_int()
        self._check(self.lib.us_set_learn_duty_percent(self.h, percent, C.byref(applied)))
        return bool(applied.value)

    def stats(self):
        s = Stats(size=C.sizeof(Stats))
        self._check(self.lib.us_get_stats(self.h, C.byref(s)))
        return s


def f64_bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def main():
    lib = load()
    print(f"loaded {lib._name}, ABI {lib.us_abi_version()}")

    # Bad options come back as exceptions that say what to fix.
    try:
        Slab(lib, 0)
        raise AssertionError("slots = 0 was accepted")
    except UltraslayerError as e:
        assert e.code == US_ERR_TYPE and "slots" in str(e), e
        print(f"refused: {e}")

    # The default strategy is 'auto': it says what it chose and why (on a 2-vCPU box, not hedging).
    with Slab(lib, 4096, huge_pages=US_PAGES_OFF, lock=US_LOCK_OFF, placement=US_PLACEMENT_OFFSET) as s:
        info = s.info()
        assert info.strategy_requested == US_STRATEGY_AUTO and info.strategy != US_STRATEGY_AUTO
        print(f"auto chose {STRATEGY_NAMES[info.strategy]}: {s.strategy_reason()}")
        # Placed by offset, nothing is learned in the background: the duty applies to nothing.
        assert s.set_learn_duty_percent(100) is False

    # Hedged reads, asked for; spin=hybrid keeps idle replica threads from burning cores;
    # pages/lock off for small CI hosts.
    with Slab(lib, 10_000, replicas=3, strategy=US_STRATEGY_HEDGE, spin=US_SPIN_HYBRID, huge_pages=US_PAGES_OFF,
              lock=US_LOCK_OFF, record_latency=1) as s:
        info = s.info()
        print(f"{info.slots} slots x {info.replicas} replicas, {PAGE_KIND_NAMES[info.page_kind]} pages, "
              f"{info.mapped_bytes} bytes mapped, threads on cores {list(info.cores[:info.replicas])}")
        assert info.running == 1 and info.replicas == 3

        s[42] = 2**64 - 1
        assert s[42] == 2**64 - 1
        for x in (math.pi, -0.0, math.inf, 1e-310):
            s[7] = x
            assert f64_bits(s.read_f64(7)) == f64_bits(x)  # bit-exact
            assert s[7] == f64_bits(x)                    # the same bits through the u64 view

        idx = list(range(0, 10_000, 37))
        s.write_many(idx, [i * i for i in idx])
        assert s.read_many(idx) == [i * i for i in idx]

        try:
            s[10_000]
            raise AssertionError("slot 10000 of 10000 was read")
        except UltraslayerError as e:
            assert e.code == US_ERR_RANGE, e
            print(f"refused: {e}")

        st = s.stats()
        print(f"hedged {st.hedged}, wins {list(st.wins[:3])}, direct while parked {st.direct_while_parked}, "
              f"p50 {st.latency_p50_ns} ns, p99 {st.latency_p99_ns} ns")
        assert st.hedged + st.direct_while_parked + st.direct_after_timeout + st.direct > 0

        s.stop()
        assert s.info().running == 0 and s[42] == 2**64 - 1  # reads keep working, directly
        s.start()
    print("ok")


if __name__ == "__main__":
    sys.exit(main())
