/*
 * roundtrip.c: the C ABI from a C program's side. Built and run by tests/capi.rs:
 *   gcc -std=c11 -Wall -Wextra -Werror -pthread -Iinclude tests/c/roundtrip.c -lultraslayer
 * Prints one line per check group and "ok" at the end; exits 1 at the first failed check.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <sched.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ultraslayer.h"

static int sentinel; /* an address us_create must overwrite with NULL on failure */

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, \
                    #cond, us_last_error());                                               \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* A status code and a message that mentions `needle`. */
#define CHECK_ERR(call, code, needle)                                                       \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_ != (code) || !strstr(us_last_error(), (needle))) {                         \
            fprintf(stderr, "%s:%d: %s returned %s (\"%s\"), wanted %s mentioning \"%s\"\n",  \
                    __FILE__, __LINE__, #call, us_status_name(rc_), us_last_error(),       \
                    us_status_name(code), (needle));                                       \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

static uint64_t pattern(uint32_t k) {
    return ((uint64_t)k << 32) | (uint32_t)((k * 0x9E3779B9u) ^ 0xA5A55A5Au);
}

static int threads_in_process(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static us_options small(uint64_t slots) {
    us_options o;
    us_options_default(&o);
    o.slots = slots;
    o.replicas = 3;
    o.huge_pages = US_PAGES_OFF;
    o.lock = US_LOCK_OFF;
    o.spin = US_SPIN_HYBRID; /* never let spinning threads hog this 2-vCPU machine */
    o.strategy = US_STRATEGY_HEDGE; /* these checks are about the replica threads ('auto' may not run any) */
    return o;
}

static void defaults_and_versions(void) {
    CHECK(us_abi_version() == US_ABI_VERSION);
    us_options o;
    memset(&o, 0xAB, sizeof o);
    us_options_default(&o);
    CHECK(o.size == sizeof(us_options));
    CHECK(o.slots == 0 && o.replicas == 2 && o.channel_offset == US_CHANNEL_OFFSET_DEFAULT);
    CHECK(o.huge_pages == US_PAGES_AUTO && o.lock == US_LOCK_AUTO && o.spin == US_SPIN_HYBRID);
    CHECK(o.cores == NULL && o.core_count == 0 && o.idle_us == -1);
    CHECK(o.start == 1 && o.record_latency == 0);
    CHECK(o.strategy == US_STRATEGY_AUTO && o.placement == US_PLACEMENT_AUTO && o.placement_budget_ms == -1);
    us_options_default(NULL); /* ignored */
    CHECK(strcmp(us_status_name(US_OK), "US_OK") == 0);
    CHECK(strcmp(us_status_name(US_ERR_BUSY), "US_ERR_BUSY") == 0);
    CHECK(strcmp(us_status_name(12345), "US_ERR_UNKNOWN") == 0);
    printf("defaults and versions\n");
}

static void bad_options_are_refused_with_a_reason(void) {
    us_slayer *h = (us_slayer *)&sentinel;
    us_options o = small(0);
    CHECK_ERR(us_create(&o, &h), US_ERR_TYPE, "slots");
    CHECK(h == NULL);

    o = small(100); o.replicas = 1;
    CHECK_ERR(us_create(&o, &h), US_ERR_TYPE, "replicas");
    o = small(100); o.replicas = US_MAX_REPLICAS + 1;
    CHECK_ERR(us_create(&o, &h), US_ERR_TYPE, "replicas");
    o = small(100); o.channel_offset = 100;
    CHECK_ERR(us_create(&o, &h), US_ERR_TYPE, "channel_offset"); /* the C spelling */
    o = small(100); o.huge_pages = 9;
    CHECK_ERR(us_create(&o, &h), US_ERR_TYPE, "huge_pages");
    o = small(100); o.lock = 2;
    CHECK_ERR(us_create(&o, &h), US_ERR_TYPE, "lock");
    o = small(100); o.spin = -1;
    CHECK_ERR(us_create(&o, &h), US_ERR_TYPE, "spin");
    o = small(100); o.idle_us = -2;
    CHECK_ERR(us_create(&o, &h), US_ERR_TYPE, "idle_us");
    o = small(100); o.core_count = 3;
    CHECK_ERR(us_create(&o, &h), US_ERR_NULL, "cores");
    uint32_t far_cores[3] = {100000, 100001, 100002};
    o = small(100); o.cores = far_cores; o.core_count = 3;
    CHECK_ERR(us_create(&o, &h), US_ERR_SYSTEM, "100000");
    uint32_t two_cores[2] = {0, 0};
    o = small(100); o.cores = two_cores; o.core_count = 2;
    CHECK_ERR(us_create(&o, &h), US_ERR_TYPE, "exactly one core per replica");
    CHECK(h == NULL);

    /* Versioning: too small a size is refused; a larger (newer) struct is fine while its
     * unknown tail is zero, and refused when it is not. */
    o = small(100); o.size = 8;
    CHECK_ERR(us_create(&o, &h), US_ERR_TYPE, "us_options.size");
    o = small(100); o.size = (size_t)0xABABABABABABABABull; /* never initialized: not read past */
    CHECK_ERR(us_create(&o, &h), US_ERR_TYPE, "us_options_default");
    struct { us_options o; uint64_t newer_field; } bigger;
    memset(&bigger, 0, sizeof bigger);
    bigger.o = small(100);
    bigger.o.start = 0;
    bigger.o.size = sizeof bigger;
    CHECK(us_create(&bigger.o, &h) == US_OK && h != NULL);
    us_destroy(h);
    bigger.newer_field = 1;
    CHECK_ERR(us_create(&bigger.o, &h), US_ERR_TYPE, "newer libultraslayer");

    CHECK_ERR(us_create(NULL, &h), US_ERR_NULL, "opts");
    o = small(100);
    CHECK_ERR(us_create(&o, NULL), US_ERR_NULL, "out");
    printf("bad options refused\n");
}

static void null_handles_and_pointers_are_errors(void) {
    uint64_t v;
    double d;
    uint32_t idx[1] = {0};
    us_info info = {.size = sizeof info};
    us_stats stats = {.size = sizeof stats};
    CHECK_ERR(us_start(NULL), US_ERR_NULL, "handle");
    CHECK_ERR(us_stop(NULL), US_ERR_NULL, "handle");
    CHECK_ERR(us_read_u64(NULL, 0, &v), US_ERR_NULL, "handle");
    CHECK_ERR(us_read_f64(NULL, 0, &d), US_ERR_NULL, "handle");
    CHECK_ERR(us_write_u64(NULL, 0, 1), US_ERR_NULL, "handle");
    CHECK_ERR(us_write_f64(NULL, 0, 1.0), US_ERR_NULL, "handle");
    CHECK_ERR(us_read_replica_u64(NULL, 0, 0, &v), US_ERR_NULL, "handle");
    CHECK_ERR(us_read_many_u64(NULL, idx, 1, &v), US_ERR_NULL, "handle");
    CHECK_ERR(us_write_many_u64(NULL, idx, 1, &v), US_ERR_NULL, "handle");
    CHECK_ERR(us_get_info(NULL, &info), US_ERR_NULL, "handle");
    CHECK_ERR(us_get_stats(NULL, &stats), US_ERR_NULL, "handle");
    CHECK_ERR(us_reset_stats(NULL), US_ERR_NULL, "handle");
    CHECK_ERR(us_set_learn_duty_percent(NULL, 50, NULL), US_ERR_NULL, "handle");
    us_learning learning = {.size = sizeof learning};
    size_t reason_len;
    CHECK_ERR(us_get_learning(NULL, &learning), US_ERR_NULL, "handle");
    CHECK_ERR(us_learning_stopped_reason(NULL, NULL, 0, &reason_len), US_ERR_NULL, "handle");
    us_destroy(NULL);

    us_options o = small(16);
    o.start = 0;
    us_slayer *h;
    CHECK(us_create(&o, &h) == US_OK);
    CHECK_ERR(us_read_u64(h, 0, NULL), US_ERR_NULL, "out");
    CHECK_ERR(us_read_f64(h, 0, NULL), US_ERR_NULL, "out");
    CHECK_ERR(us_read_replica_u64(h, 0, 0, NULL), US_ERR_NULL, "out");
    CHECK_ERR(us_read_many_u64(h, NULL, 1, &v), US_ERR_NULL, "idx");
    CHECK_ERR(us_read_many_u64(h, idx, 1, NULL), US_ERR_NULL, "out");
    CHECK_ERR(us_write_many_u64(h, idx, 1, NULL), US_ERR_NULL, "values");
    CHECK_ERR(us_get_info(h, NULL), US_ERR_NULL, "us_info");
    CHECK_ERR(us_get_stats(h, NULL), US_ERR_NULL, "us_stats");
    CHECK(us_read_many_u64(h, NULL, 0, NULL) == US_OK); /* empty batch: NULL is fine */
    CHECK(us_write_many_u64(h, NULL, 0, NULL) == US_OK);
    us_destroy(h);
    printf("null handles and pointers refused\n");
}

static void values_round_trip(us_slayer *h, uint64_t slots, uint32_t replicas) {
    /* Single u64 slots, including the last one; every replica holds the value. */
    for (uint64_t i = 0; i < slots; i += 7) CHECK(us_write_u64(h, i, pattern((uint32_t)i)) == US_OK);
    CHECK(us_write_u64(h, slots - 1, UINT64_MAX) == US_OK);
    for (uint64_t i = 0; i < slots; i += 7) {
        uint64_t v = 0;
        CHECK(us_read_u64(h, i, &v) == US_OK);
        CHECK(v == (i == slots - 1 ? UINT64_MAX : pattern((uint32_t)i)));
        for (uint32_t r = 0; r < replicas; r++) {
            uint64_t c = 0;
            CHECK(us_read_replica_u64(h, r, i, &c) == US_OK && c == v);
        }
    }
    uint64_t v = 0;
    CHECK(us_read_u64(h, slots - 1, &v) == US_OK && v == UINT64_MAX);

    /* Doubles, bit-exact: signed zero, infinities, a NaN with a payload, a subnormal. */
    uint64_t nan_bits = 0x7FF4000000C0FFEEull;
    double nan_payload;
    memcpy(&nan_payload, &nan_bits, 8);
    const double ds[] = {0.0, -0.0, 1.5, -3.25e300, INFINITY, -INFINITY, nan_payload, 4.9e-324, M_PI};
    const size_t nd = sizeof ds / sizeof ds[0];
    for (size_t k = 0; k < nd; k++) CHECK(us_write_f64(h, 100 + k, ds[k]) == US_OK);
    for (size_t k = 0; k < nd; k++) {
        double d;
        uint64_t bits, want;
        memcpy(&want, &ds[k], 8);
        CHECK(us_read_f64(h, 100 + k, &d) == US_OK && memcmp(&d, &ds[k], 8) == 0);
        CHECK(us_read_u64(h, 100 + k, &bits) == US_OK && bits == want);
    }

    /* Batches. */
    enum { N = 1500 };
    static uint32_t idx[N];
    static uint64_t vals[N], got[N];
    static double dvals[N], dgot[N];
    for (uint32_t k = 0; k < N; k++) {
        idx[k] = (uint32_t)((k * 7919u) % (slots - 1));
        /* Indices may repeat; the value follows the index so every read has one right answer. */
        vals[k] = pattern(idx[k]) ^ 0x5555;
    }
    CHECK(us_write_many_u64(h, idx, N, vals) == US_OK);
    CHECK(us_read_many_u64(h, idx, N, got) == US_OK);
    for (uint32_t k = 0; k < N; k++) CHECK(got[k] == vals[k]);
    for (uint32_t k = 0; k < N; k++) dvals[k] = (double)k * -0.5;
    uint32_t didx[N];
    for (uint32_t k = 0; k < N; k++) didx[k] = k;
    CHECK(us_write_many_f64(h, didx, N, dvals) == US_OK);
    CHECK(us_read_many_f64(h, didx, N, dgot) == US_OK);
    CHECK(memcmp(dgot, dvals, sizeof dvals) == 0);
    printf("values round trip (%u replicas)\n", replicas);
}

static void bad_indices_change_nothing(us_slayer *h, uint64_t slots) {
    char want[64];
    snprintf(want, sizeof want, "has %llu slots", (unsigned long long)slots);
    uint64_t v = 0;
    CHECK_ERR(us_read_u64(h, slots, &v), US_ERR_RANGE, want);
    CHECK_ERR(us_read_u64(h, 1ull << 40, &v), US_ERR_RANGE, "out of range");
    CHECK_ERR(us_write_u64(h, slots, 1), US_ERR_RANGE, want);
    CHECK_ERR(us_write_f64(h, UINT64_MAX, 1.0), US_ERR_RANGE, "out of range");
    CHECK_ERR(us_read_replica_u64(h, 99, 0, &v), US_ERR_RANGE, "replica 99");

    /* A batch with one bad index stores nothing, even the good ones before it. */
    CHECK(us_write_u64(h, 3, 33) == US_OK && us_write_u64(h, 4, 44) == US_OK);
    uint32_t idx[3] = {3, (uint32_t)slots, 4};
    uint64_t vals[3] = {1, 2, 3}, out[3] = {0, 0, 0};
    CHECK_ERR(us_write_many_u64(h, idx, 3, vals), US_ERR_RANGE, want);
    CHECK(us_read_u64(h, 3, &v) == US_OK && v == 33);
    CHECK(us_read_u64(h, 4, &v) == US_OK && v == 44);
    CHECK_ERR(us_read_many_u64(h, idx, 3, out), US_ERR_RANGE, want);

    /* Overlapping in/out arrays are refused instead of aliasing. */
    uint64_t both[4] = {0, 1, 2, 3};
    CHECK_ERR(us_read_many_u64(h, (const uint32_t *)both, 2, both), US_ERR_TYPE, "overlap");

    /* errno-like: a success leaves the last message in place. */
    CHECK(us_read_u64(h, 0, &v) == US_OK);
    CHECK(strstr(us_last_error(), "overlap") != NULL);
    printf("bad indices change nothing\n");
}

static void info_and_stats_tell_the_truth(us_slayer *h, uint64_t slots) {
    us_info info;
    memset(&info, 0, sizeof info);
    CHECK_ERR(us_get_info(h, &info), US_ERR_TYPE, "us_info.size");
    info.size = sizeof info;
    CHECK(us_get_info(h, &info) == US_OK);
    CHECK(info.size == sizeof info);
    CHECK(info.slots == slots && info.replicas == 3 && info.channel_offset == 256);
    CHECK(info.page_kind == US_PAGE_KIND_4K && info.page_size == 4096 && info.locked == 0);
    CHECK(info.running == 1 && info.spin == US_SPIN_HYBRID && info.recording == 1);
    CHECK(info.mapped_bytes >= slots * 8 * 3);
    CHECK(info.idle_us == 2000);

    us_stats st = {.size = sizeof st};
    CHECK(us_reset_stats(h) == US_OK);
    uint64_t v;
    for (int k = 0; k < 1000; k++) CHECK(us_read_u64(h, (uint64_t)k, &v) == US_OK);
    CHECK(us_get_stats(h, &st) == US_OK);
    uint64_t wins = 0;
    for (int r = 0; r < US_MAX_REPLICAS; r++) wins += st.wins[r];
    CHECK(st.wins[3] == 0); /* only 3 replicas */
    CHECK(wins == st.hedged);
    CHECK(st.hedged + st.direct_while_parked + st.direct_after_timeout == 1000);
    CHECK(st.direct == 0);
    CHECK(st.latency_count == 1000 && st.latency_min_ns > 0 && st.latency_p50_ns <= st.latency_max_ns);
    printf("info and stats: hedged %llu, parked %llu, timeout %llu, p50 %llu ns\n",
           (unsigned long long)st.hedged, (unsigned long long)st.direct_while_parked,
           (unsigned long long)st.direct_after_timeout, (unsigned long long)st.latency_p50_ns);

    /* Stopped threads: reads keep working, directly, and say so. */
    CHECK(us_stop(h) == US_OK && us_stop(h) == US_OK);
    CHECK(us_get_info(h, &info) == US_OK && info.running == 0);
    CHECK(us_reset_stats(h) == US_OK);
    CHECK(us_write_u64(h, 9, 99) == US_OK);
    CHECK(us_read_u64(h, 9, &v) == US_OK && v == 99);
    CHECK(us_get_stats(h, &st) == US_OK && st.direct == 1 && st.hedged == 0);
    CHECK(us_start(h) == US_OK && us_start(h) == US_OK);
    CHECK(us_get_info(h, &info) == US_OK && info.running == 1);
    CHECK(us_read_u64(h, 9, &v) == US_OK && v == 99);
    printf("stop and start\n");

    /* A hedged slab learns nothing in the background: the duty is refused for range first, then
     * accepted and reported as not applied. */
    int applied = -1;
    CHECK_ERR(us_set_learn_duty_percent(h, 0, &applied), US_ERR_RANGE, "1 to 100");
    CHECK_ERR(us_set_learn_duty_percent(h, 101, &applied), US_ERR_RANGE, "1 to 100");
    CHECK(applied == -1);
    CHECK(us_set_learn_duty_percent(h, 100, &applied) == US_OK && applied == 0);
    CHECK(us_set_learn_duty_percent(h, 25, NULL) == US_OK);
    printf("learn duty\n");

    /* ... and reports no learning, and no reason for a stop. */
    us_learning learning;
    memset(&learning, 0xff, sizeof learning);
    learning.size = sizeof learning - 8;
    CHECK_ERR(us_get_learning(h, &learning), US_ERR_TYPE, "us_learning.size");
    learning.size = sizeof learning;
    CHECK(us_get_learning(h, &learning) == US_OK && learning.size == sizeof learning);
    CHECK(learning.learns == 0 && learning.done == 0 && learning.stopped == 0 && learning.frames_total == 0);
    CHECK(learning.frames_learned == 0 && learning.audits == 0 && learning.hot_coverage == -1.0);
    char why[64] = "x";
    size_t why_len = 99;
    CHECK(us_learning_stopped_reason(h, why, sizeof why, &why_len) == US_OK && why_len == 0 && why[0] == 0);
    CHECK_ERR(us_get_learning(h, NULL), US_ERR_NULL, "out");
    CHECK_ERR(us_learning_stopped_reason(h, why, sizeof why, NULL), US_ERR_NULL, "len");
    printf("learning info\n");
}

/* ---- threads ---- */

struct race {
    us_slayer *h;
    uint64_t slots;
    atomic_int stop;
    atomic_long busy, ok, wrong, write_errors;
};

static void *writer_thread(void *p) {
    struct race *r = p;
    for (uint32_t k = 0; !atomic_load(&r->stop); k++) {
        uint32_t i = k % (uint32_t)r->slots;
        if (us_write_u64(r->h, i, pattern(i)) != US_OK) atomic_fetch_add(&r->write_errors, 1);
    }
    return NULL;
}

static void *second_reader(void *p) {
    struct race *r = p;
    while (!atomic_load(&r->stop)) {
        uint64_t v = 0;
        int rc = us_read_u64(r->h, 5, &v);
        if (rc == US_ERR_BUSY) atomic_fetch_add(&r->busy, 1);
        else if (rc == US_OK && v == pattern(5)) atomic_fetch_add(&r->ok, 1);
        else atomic_fetch_add(&r->wrong, 1);
        /* Pause between tries so the main thread can get in; a tight loop would hold the lock
         * most of the time and turn the main thread away instead. */
        struct timespec pause = {0, 20000};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void threads_share_a_handle_safely(us_slayer *h, uint64_t slots) {
    CHECK(us_stop(h) == US_OK); /* long direct batches keep the read lock held for a while */
    struct race r = {.h = h, .slots = slots};
    for (uint64_t i = 0; i < slots; i++) CHECK(us_write_u64(h, i, pattern((uint32_t)i)) == US_OK);

    /* A writer on another thread never waits for, nor disturbs, reads. */
    pthread_t w, b;
    CHECK(pthread_create(&w, NULL, writer_thread, &r) == 0);
    /* A second reader on the same handle gets US_ERR_BUSY while this thread is inside a read. */
    CHECK(pthread_create(&b, NULL, second_reader, &r) == 0);

    enum { N = 1 << 20 };
    uint32_t *idx = malloc(N * sizeof *idx);
    uint64_t *out = malloc(N * sizeof *out);
    CHECK(idx && out);
    for (uint32_t k = 0; k < N; k++) idx[k] = (k * 2654435761u) % (uint32_t)slots;
    long my_busy = 0, rounds = 0;
    while (rounds < 3 || (atomic_load(&r.busy) == 0 && rounds < 200)) {
        int rc = us_read_many_u64(h, idx, N, out);
        if (rc == US_ERR_BUSY) { my_busy++; CHECK(my_busy < 1000000); continue; }
        CHECK(rc == US_OK);
        rounds++;
        for (uint32_t k = 0; k < N; k++) CHECK(out[k] == pattern(idx[k]));
    }
    atomic_store(&r.stop, 1);
    pthread_join(w, NULL);
    pthread_join(b, NULL);
    free(idx);
    free(out);
    CHECK(atomic_load(&r.write_errors) == 0);
    CHECK(atomic_load(&r.wrong) == 0);
    CHECK(atomic_load(&r.busy) > 0);
    CHECK(strstr(us_last_error(), "another thread") != NULL || my_busy == 0);
    CHECK(us_start(h) == US_OK);
    printf("threads: %ld batches (turned away %ld times); second reader busy %ld times, ok %ld; "
           "writer never refused\n", rounds, my_busy, atomic_load(&r.busy), atomic_load(&r.ok));
}

/* The engine's policy reaches C callers: 'auto' picks a strategy and says why; a steered slab
 * without a given offset gets the steering offset. */
static void auto_and_the_steer_defaults(void) {
    cpu_set_t set;
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    int allowed = CPU_COUNT(&set);
    us_options o;
    us_options_default(&o);
    o.slots = 4096;
    o.huge_pages = US_PAGES_OFF;
    o.lock = US_LOCK_OFF;
    o.placement = US_PLACEMENT_OFFSET;  /* keep it quick: no page timing */
    us_slayer *h;
    CHECK(us_create(&o, &h) == US_OK);
    us_info info = {.size = sizeof info};
    CHECK(us_get_info(h, &info) == US_OK);
    CHECK(info.strategy_requested == US_STRATEGY_AUTO && info.strategy != US_STRATEGY_AUTO);
    if (allowed < 3) CHECK(info.strategy != US_STRATEGY_HEDGE && info.running == 0);
    size_t len = 0;
    CHECK(us_strategy_reason(h, NULL, 0, &len) == US_OK && len > 0);
    char small_buf[8], reason[512];
    CHECK(us_strategy_reason(h, small_buf, sizeof small_buf, &len) == US_OK && strlen(small_buf) == 7);
    CHECK(us_strategy_reason(h, reason, sizeof reason, &len) == US_OK && strlen(reason) == (len < 511 ? len : 511));
    const char *names[] = {"auto", "hedge", "steer", "direct"};
    CHECK(strncmp(reason, names[info.strategy], strlen(names[info.strategy])) == 0);
    if (allowed < 3) CHECK(strstr(reason, "hedge needs 3 free cores") != NULL);
    printf("auto: %s\n", reason);
    CHECK_ERR(us_strategy_reason(h, reason, sizeof reason, NULL), US_ERR_NULL, "len");
    us_destroy(h);

    o.strategy = US_STRATEGY_STEER;
    CHECK(us_create(&o, &h) == US_OK);
    CHECK(us_get_info(h, &info) == US_OK);
    CHECK(info.strategy == US_STRATEGY_STEER && info.channel_offset == 64 && info.running == 0);
    us_destroy(h);
    o.strategy = 9;
    CHECK_ERR(us_create(&o, &h), US_ERR_TYPE, "strategy");
    o.strategy = US_STRATEGY_AUTO;
    o.placement = 7;
    CHECK_ERR(us_create(&o, &h), US_ERR_TYPE, "placement");
    printf("auto and steer defaults\n");
}

/* A steered slab placed for background learning learns in the background where this machine's
 * DRAM shows the structure for it: the learning calls then report its shape (never how fast it
 * learns). Where the machine refuses (no split found, not x86_64), us_create says so, and that is
 * the hardware's answer. */
static void background_learning_shape(void) {
    us_options o;
    us_options_default(&o);
    o.slots = 1 << 16; /* 512 KiB a copy: 128 frames */
    o.huge_pages = US_PAGES_OFF;
    o.lock = US_LOCK_OFF;
    o.strategy = US_STRATEGY_STEER;
    o.placement = US_PLACEMENT_BACKGROUND;
    us_slayer *h = NULL;
    if (us_create(&o, &h) != US_OK) {
        printf("background learning: not here (%s)\n", us_last_error());
        return;
    }
    us_learning l = {.size = sizeof l};
    CHECK(us_get_learning(h, &l) == US_OK);
    CHECK(l.learns == 1);
    CHECK(l.frames_total >= 128 && l.frames_learned <= l.frames_total && l.frames_unsteerable <= l.frames_learned);
    CHECK(l.duty_percent == 25 && l.elapsed_ms >= 0 && l.cpu_ms >= 0);
    int applied = -1;
    CHECK(us_set_learn_duty_percent(h, 100, &applied) == US_OK && (applied == 1 || applied == 0));
    uint64_t v;
    CHECK(us_write_u64(h, 5, 55) == US_OK && us_read_u64(h, 5, &v) == US_OK && v == 55);
    CHECK(us_get_learning(h, &l) == US_OK && (applied == 0 || l.duty_percent == 100 || l.done));
    char why[512];
    size_t len = 0;
    CHECK(us_learning_stopped_reason(h, why, sizeof why, &len) == US_OK);
    CHECK(l.stopped ? len > 0 : 1);
    printf("background learning: %llu of %llu frames learned, duty %u%%%s%s\n", (unsigned long long)l.frames_learned,
           (unsigned long long)l.frames_total, l.duty_percent, len ? "; stopped: " : "", why);
    us_destroy(h);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int threads_before = threads_in_process();

    defaults_and_versions();
    bad_options_are_refused_with_a_reason();
    null_handles_and_pointers_are_errors();
    auto_and_the_steer_defaults();
    background_learning_shape();

    const uint64_t slots = 50000;
    us_options o = small(slots);
    o.record_latency = 1;
    us_slayer *h = NULL;
    CHECK(us_create(&o, &h) == US_OK && h != NULL);
    CHECK(threads_in_process() == threads_before + 3);

    values_round_trip(h, slots, 3);
    bad_indices_change_nothing(h, slots);
    info_and_stats_tell_the_truth(h, slots);
    threads_share_a_handle_safely(h, slots);

    us_destroy(h);
    CHECK(threads_in_process() == threads_before);
    printf("destroy joined every replica thread\n");
    printf("ok\n");
    return 0;
}
