/*
 * ultraslayer.h: the C ABI of libultraslayer (hedged reads over a mirrored huge-page slab).
 *
 * Every 64-bit slot is stored in N replicas placed `channel_offset` bytes apart; pinned replica
 * threads race to load a slot and the first answer wins, taking DRAM refresh stalls out of the
 * tail of hot lookups. Writes store every replica before they return.
 *
 * Conventions
 *   - Functions that can fail return a status code (US_OK = 0). They never abort on bad input:
 *     NULL handles or pointers, bad indices and bad options come back as codes.
 *   - us_last_error() is the message of the most recent failed call on the calling thread ("" if
 *     none). Successful calls leave it alone (like errno), so check the status code first.
 *   - Structs start with a `size` field. Set it to sizeof(struct) (us_options_default does that
 *     for us_options) so the library can tell which version of the struct you compiled against.
 *   - Slot indices: 0 <= idx < slots. Batches take uint32_t indices (slots are at most 2^32).
 *   - f64 functions store and load the double's bits unchanged (NaN payloads included): a slot
 *     written as f64 reads back as the same bits through the u64 functions and vice versa.
 *
 * Threads
 *   A handle has one requester at a time. Reads, us_start, us_stop, us_get_info, us_get_stats,
 *   us_reset_stats, us_strategy_reason and the learning calls (us_set_learn_duty_percent,
 *   us_get_learning, us_learning_stopped_reason) take a per-handle try-lock: when another
 *   thread is inside one of them on the same handle the call returns US_ERR_BUSY at once (it
 *   never waits, never corrupts). Give each reading thread its own handle, or serialize those calls
 *   yourself.
 *   Writes (us_write_*) and us_read_replica_u64 take no lock: call them from any thread at any
 *   time, concurrently with reads. A read never sees half of a write.
 *   us_destroy must be the last call on a handle: no other thread may be using it, or use it later.
 *
 * Loading
 *   The binary in the platform package (e.g. node_modules/ultraslayer-linux-x64-gnu/
 *   ultraslayer.linux-x64-gnu.node) is this library: copy or symlink it as libultraslayer.so and
 *   link with -lultraslayer, or dlopen it. It needs no Node: its napi symbols are looked up only
 *   when Node loads it as an addon. `cargo build --release -p ultraslayer-capi` builds the same
 *   C ABI without the Node binding (target/release/libultraslayer_capi.so).
 */
#ifndef ULTRASLAYER_H
#define ULTRASLAYER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes; compare with us_abi_version() at run time. */
#define US_ABI_VERSION 2u

/* Status codes. */
enum us_status {
    US_OK = 0,
    US_ERR_TYPE = 1,   /* a bad option (any field of us_options) or argument: unknown enum value, bad size, misaligned or overlapping arrays */
    US_ERR_RANGE = 2,  /* a value out of range: slot index, replica number, batch too large */
    US_ERR_SYSTEM = 3, /* the system refused: no huge pages, mlock refused, core not allowed, thread spawn */
    US_ERR_NULL = 4,   /* a required pointer was NULL (handle, options, out pointer, non-empty batch array) */
    US_ERR_BUSY = 5,   /* another thread is inside a read/start/stop/info/stats call on this handle */
    US_ERR_PANIC = 6   /* a bug inside the library; the handle is poisoned, destroy it */
};

/* us_options.huge_pages: where the slab's memory comes from. */
enum us_pages {
    US_PAGES_AUTO = 0, /* 1 GiB pages (slabs >= 256 MiB), then 2 MiB, then THP, then 4 KiB pages */
    US_PAGES_1G = 1,   /* 1 GiB hugetlb pages or fail */
    US_PAGES_2M = 2,   /* 2 MiB hugetlb pages or fail */
    US_PAGES_THP = 3,  /* transparent huge pages (madvise) */
    US_PAGES_OFF = 4   /* base pages only */
};

/* us_info.page_kind: what the slab got (same numbers as the request that forces it). */
enum us_page_kind {
    US_PAGE_KIND_1G = 1,
    US_PAGE_KIND_2M = 2,
    US_PAGE_KIND_THP = 3, /* see us_info.thp_bytes for how much the kernel really backed */
    US_PAGE_KIND_4K = 4
};

/* us_options.lock: whether to mlock the slab. */
enum us_lock {
    US_LOCK_AUTO = -1,    /* try; a refusal is reported in us_info.locked, not an error */
    US_LOCK_OFF = 0,
    US_LOCK_REQUIRED = 1  /* a refusal is US_ERR_SYSTEM */
};

/* us_options.spin: how replica threads wait for work. */
enum us_spin {
    US_SPIN_BUSY = 0,   /* spin forever: lowest latency, one full core per replica */
    US_SPIN_HYBRID = 1, /* spin, yield, park after idle_us; the next read wakes them */
    US_SPIN_SLEEP = 2   /* park when idle; reads that find them parked are served directly */
};

/* us_options.strategy / us_info.strategy: how reads are served. */
enum us_strategy {
    US_STRATEGY_AUTO = 0,   /* default: hedge when every replica thread gets an allowed core besides the
                               caller's; else steer when the copies stall apart and calibration predicts a
                               gain; else direct. us_info says what was chosen, us_strategy_reason why. */
    US_STRATEGY_HEDGE = 1,  /* replica threads race to read every copy (N cores) */
    US_STRATEGY_STEER = 2,  /* the caller predicts which copy is not refreshing and reads only that one */
    US_STRATEGY_DIRECT = 3  /* the caller reads copy 0; no threads */
};

/* us_options.placement: where the copies of a slot go. */
enum us_placement {
    US_PLACEMENT_AUTO = 0,           /* refresh groups for a steered slab whose layout is ours to choose, else offset */
    US_PLACEMENT_REFRESH_GROUPS = 1, /* learn each 4 KiB page's refresh group by timing; an error when it cannot be had */
    US_PLACEMENT_OFFSET = 2,         /* copies channel_offset bytes apart */
    US_PLACEMENT_HUGE_PAGES = 3,     /* refresh groups on the slab's own (huge) pages, any size; an error when it cannot be had */
    US_PLACEMENT_BACKGROUND = 4      /* steer, 2 replicas: serve at once, learn each frame on a thread of its own (us_get_learning) */
};

/* us_options.channel_offset: a power of two 64 ..= 2^30, or one of these. */
#define US_CHANNEL_OFFSET_DEFAULT 0u /* 256, or 64 for a steered slab */
#define US_CHANNEL_OFFSET_AUTO 1u    /* what `ultraslayer probe groups` recorded here, else the default */

#define US_MAX_REPLICAS 8

typedef struct us_slayer us_slayer; /* opaque */

typedef struct us_options {
    size_t size;             /* sizeof(us_options); set by us_options_default */
    uint64_t slots;          /* 1 ..= 2^32; no default, must be set */
    uint32_t replicas;       /* 2 ..= US_MAX_REPLICAS; default 2 */
    uint32_t channel_offset; /* bytes between copies, power of two 64 ..= 2^30; default US_CHANNEL_OFFSET_DEFAULT */
    int32_t huge_pages;      /* enum us_pages; default US_PAGES_AUTO */
    int32_t lock;            /* enum us_lock; default US_LOCK_AUTO */
    const uint32_t *cores;   /* one core per replica, or NULL / core_count 0 to choose automatically */
    size_t core_count;
    int64_t idle_us;         /* idle microseconds before hybrid/sleep threads park; -1 = policy default */
    int32_t spin;            /* enum us_spin; default US_SPIN_HYBRID (no core burns while idle) */
    int32_t start;           /* nonzero: start the replica threads in us_create (hedged slabs); default 1 */
    int32_t record_latency;  /* nonzero: record per-read latency for us_get_stats; default 0 */
    int32_t strategy;        /* enum us_strategy; default US_STRATEGY_AUTO */
    int32_t placement;       /* enum us_placement; default US_PLACEMENT_AUTO */
    int64_t placement_budget_ms; /* time refresh-group placement may spend timing pages; -1 = default (3000) */
} us_options;

typedef struct us_info {
    size_t size;             /* set to sizeof(us_info) before us_get_info */
    uint64_t slots;
    uint32_t replicas;
    uint32_t channel_offset;
    int32_t page_kind;       /* enum us_page_kind */
    int32_t locked;          /* 1 if mlocked */
    int32_t running;         /* 1 if the replica threads run */
    int32_t shared_cores;    /* 1 if a replica thread shares a core (with the requester or another thread) */
    int32_t spin;            /* enum us_spin */
    int32_t recording;       /* 1 if per-read latency is recorded */
    uint64_t page_size;
    uint64_t mapped_bytes;
    uint64_t thp_bytes;      /* for THP: bytes the kernel backed with huge pages */
    uint64_t idle_us;        /* UINT64_MAX: threads never park */
    uint32_t cores[US_MAX_REPLICAS]; /* cores[r] = replica r's core, r < replicas */
    int32_t strategy;           /* enum us_strategy the slab reads with (never AUTO) */
    int32_t strategy_requested; /* enum us_strategy asked for */
} us_info;

typedef struct us_stats {
    size_t size;                   /* set to sizeof(us_stats) before us_get_stats */
    uint64_t hedged;               /* reads answered by a replica thread */
    uint64_t direct;               /* reads served by the requester (threads stopped) */
    uint64_t direct_while_parked;  /* reads that found every thread parked and woke them */
    uint64_t direct_after_timeout; /* reads that got no answer in time (a thread descheduled) */
    uint64_t wins[US_MAX_REPLICAS];/* hedged wins per replica, r < replicas */
    uint64_t latency_count;        /* latency fields are 0 unless record_latency was set */
    uint64_t latency_min_ns;
    double latency_mean_ns;
    uint64_t latency_p50_ns;
    uint64_t latency_p90_ns;
    uint64_t latency_p99_ns;
    uint64_t latency_p999_ns;
    uint64_t latency_p9999_ns;
    uint64_t latency_max_ns;
} us_stats;

/* How far a slab's background learning has come (us_get_learning). A steered slab under placement
 * AUTO whose placement up front would not fit the budget serves at once and learns, on a thread
 * of its own, which copy of each 4 KiB frame stalls where; reads of a frame not learned yet go to
 * copy 0. Every field is 0 (hot_coverage -1) for a slab that learns nothing in the background. */
typedef struct us_learning {
    size_t size;                 /* set to sizeof(us_learning) before us_get_learning */
    int32_t learns;              /* 1 if the slab learns in the background */
    int32_t done;                /* 1 once every frame is learned (then it only audits), or it stopped */
    int32_t stopped;             /* 1 if it stopped without learning: us_learning_stopped_reason says why */
    uint32_t duty_percent;       /* share of one core it keeps busy (us_set_learn_duty_percent) */
    uint64_t frames_total;
    uint64_t frames_learned;
    uint64_t frames_unsteerable; /* of the learned frames, those read from copy 0 */
    uint64_t lines_timed;
    uint64_t audits;             /* re-timings of a few learned frames, every 10 s or when the reader asks */
    uint64_t audits_requested;   /* of them, those the reader asked for (steering fell short) */
    uint64_t relearnings;        /* audits that found the table no longer holding: every frame learned again */
    uint64_t audit_compared;     /* frames the audits compared (steerable when learned and re-timed) */
    uint64_t audit_flipped;      /* of them, those that came out the other way round */
    double elapsed_ms;           /* since learning started */
    double cpu_ms;               /* CPU time the learning thread used */
    double hot_coverage;         /* of the reads since the previous call, share on learned, steerable frames; -1 if none */
} us_learning;

/* The library's struct layouts (crates/capi/src/types.rs asserts the same numbers). */
#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(void *) == 8, "libultraslayer's C ABI is defined for 64-bit targets");
_Static_assert(sizeof(us_options) == 88, "us_options layout");
_Static_assert(sizeof(us_info) == 120, "us_info layout");
_Static_assert(sizeof(us_stats) == 176, "us_stats layout");
_Static_assert(sizeof(us_learning) == 120, "us_learning layout");
#endif

/* The ABI version the loaded library implements. */
uint32_t us_abi_version(void);

/* Fills *opts with the defaults and opts->size. slots (0 here) must still be set. NULL is ignored. */
void us_options_default(us_options *opts);

/* Maps the slab (starting the threads when opts->start). *out = the handle, or NULL on failure. */
int us_create(const us_options *opts, us_slayer **out);

/* Stops the threads, unmaps the slab, frees the handle. NULL is ignored. Last call on a handle. */
void us_destroy(us_slayer *h);

/* Starts / stops (and joins) the replica threads; both are no-ops when already so.
 * With the threads stopped, reads still work: they load replica 0 directly. */
int us_start(us_slayer *h);
int us_stop(us_slayer *h);

/* One slot. Reads take the handle's try-lock (US_ERR_BUSY); writes take no lock. */
int us_read_u64(us_slayer *h, uint64_t idx, uint64_t *out);
int us_read_f64(us_slayer *h, uint64_t idx, double *out);
int us_write_u64(us_slayer *h, uint64_t idx, uint64_t value);
int us_write_f64(us_slayer *h, uint64_t idx, double value);

/* Replica `replica`'s copy of slot idx, loaded directly (baselines, checks). No lock. */
int us_read_replica_u64(us_slayer *h, uint32_t replica, uint64_t idx, uint64_t *out);

/* Batches: out[k] = slot idx[k] / slot idx[k] = values[k], k < n. Every index is checked before
 * anything is read or stored, so a bad index changes nothing. With n == 0 the arrays may be NULL.
 * idx and out must not overlap. */
int us_read_many_u64(us_slayer *h, const uint32_t *idx, size_t n, uint64_t *out);
int us_read_many_f64(us_slayer *h, const uint32_t *idx, size_t n, double *out);
int us_write_many_u64(us_slayer *h, const uint32_t *idx, size_t n, const uint64_t *values);
int us_write_many_f64(us_slayer *h, const uint32_t *idx, size_t n, const double *values);

/* Fill *out (set out->size first). Take the try-lock. */
int us_get_info(us_slayer *h, us_info *out);
/* Why the slab reads with the strategy it does, in one sentence (and, after "; warning: ", why an
 * explicit strategy is expected to lose). Writes at most cap bytes, NUL-terminated, into buf (buf
 * may be NULL when cap is 0) and the whole sentence's length, without the NUL, into *len. */
int us_strategy_reason(us_slayer *h, char *buf, size_t cap, size_t *len);
int us_get_stats(us_slayer *h, us_stats *out);
int us_reset_stats(us_slayer *h);

/* A slab learned in the background (strategy STEER under placement AUTO, when placing up front
 * would not fit the budget): the share of one core its learning thread keeps busy, 1 to 100
 * percent (default 25), changed at once, e.g. 100 before the service serves and back after.
 * *applied (may be NULL) gets 1, or 0 when the slab learns nothing in the background or has
 * finished. US_ERR_RANGE outside 1..100. Takes the try-lock. */
int us_set_learn_duty_percent(us_slayer *h, uint32_t percent, int *applied);
/* Fill *out (set out->size first). Take the try-lock. */
int us_get_learning(us_slayer *h, us_learning *out);
/* Why the learner stopped without learning the frames ("" if it did not), written as
 * us_strategy_reason writes its sentence. Takes the try-lock. */
int us_learning_stopped_reason(us_slayer *h, char *buf, size_t cap, size_t *len);

/* The most recent failure's message on this thread ("" if none); owned by the library, valid
 * until the next failed call on this thread. */
const char *us_last_error(void);

/* "US_OK", "US_ERR_RANGE", ... for a status code; "US_ERR_UNKNOWN" otherwise. Static storage. */
const char *us_status_name(int code);

#ifdef __cplusplus
}
#endif

#endif /* ULTRASLAYER_H */
