/*
 * rate_limit.c - one zone's GCRA table.  See rate_limit.h.
 *
 * Layout of the block: the header (lock, parameters, list heads), then
 * nbuckets bucket heads, then the entries.  Links are entry indexes, NIL
 * for none, so the block means the same at any address.  An entry is on
 * exactly one of: the free list (through hnext), or a bucket chain and the
 * LRU list (head = most recently used, tail = the next to evict).
 *
 * A process may die at any store while holding the lock, leaving links
 * half changed.  So each entry also says, on its own, whether it holds a
 * key (`live`, written last when a key moves in and first when it moves
 * out) and when it was last used (`stamp`); the next locker rebuilds the
 * chains and the LRU list from those alone.  A key's state is one 8-byte
 * store (tat), so the dead process loses at most the take it was making.
 */
#include "rate_limit.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
#define TABLE_MAGIC UINT64_C(0x746e726c7461626c) /* "tnrltabl" */

typedef struct rl_entry {
    uint8_t key[HOST_RL_KEY_BYTES];
    int64_t tat;    /* theoretical arrival time, ns; 0: fresh */
    uint64_t stamp; /* the table's clock when last used: LRU order */
    uint32_t hnext; /* bucket chain, or free list */
    uint32_t prev;  /* LRU: toward the head (more recent) */
    uint32_t next;  /* LRU: toward the tail */
    uint32_t live;  /* holds a key: what a rebuild trusts */
} rl_entry;

struct host_rl_table {
    pthread_mutex_t lock;
    uint64_t magic;
    int64_t interval_ns;
    int64_t tau_ns;
    uint32_t burst;
    uint32_t capacity;
    uint32_t nbuckets; /* a power of two */
    uint32_t used;
    uint32_t free_head;
    uint32_t head, tail;
    uint64_t clock; /* ticks once per take */
};

#define HDR_BYTES ((sizeof(host_rl_table) + 63) & ~(size_t)63)

static uint32_t *buckets(host_rl_table *t)
{
    return (uint32_t *)((char *)t + HDR_BYTES);
}

static rl_entry *entries(host_rl_table *t)
{
    size_t off = HDR_BYTES + (((size_t)t->nbuckets * sizeof(uint32_t) + 63) & ~(size_t)63);

    return (rl_entry *)((char *)t + off);
}

int host_gcra(int64_t tat, int64_t now_ns, int64_t interval_ns, int64_t tau_ns, uint32_t cost,
              int64_t *new_tat, int64_t *retry_ns)
{
    int64_t base = tat > now_ns ? tat : now_ns;
    int64_t next = base + (int64_t)cost * interval_ns;

    if (next - now_ns <= tau_ns) {
        *new_tat = next;
        return 1;
    }
    *retry_ns = next - tau_ns - now_ns;
    return 0;
}

int host_rl_params(double rate, uint32_t burst, int64_t *interval_ns, int64_t *tau_ns, char *err,
                   size_t errlen)
{
    double t;

    if (!(rate >= HOST_RL_RATE_MIN && rate <= HOST_RL_RATE_MAX)) {
        snprintf(err, errlen, "rate must be between %g and %g per second", HOST_RL_RATE_MIN,
                 HOST_RL_RATE_MAX);
        return -1;
    }
    if (burst < 1 || burst > HOST_RL_BURST_MAX) {
        snprintf(err, errlen, "burst must be between 1 and %u", HOST_RL_BURST_MAX);
        return -1;
    }
    t = llround(1e9 / rate);
    if (t < 1)
        t = 1;
    if (t * (double)burst > (double)HOST_RL_TAU_MAX) {
        snprintf(err, errlen, "burst / rate is too long (at most about %.0f days)",
                 (double)HOST_RL_TAU_MAX / 1e9 / 86400);
        return -1;
    }
    *interval_ns = (int64_t)t;
    *tau_ns = (int64_t)t * (int64_t)burst;
    return 0;
}

/* Bucket heads for n entries: the largest power of two <= n, so chains
 * average one or two entries. */
static uint32_t buckets_for(uint64_t n)
{
    uint32_t b = 1;

    while ((uint64_t)b * 2 <= n && b < (1u << 30))
        b *= 2;
    return b;
}

static uint32_t capacity_for(size_t mem_bytes, uint32_t *nbuckets)
{
    size_t room, n;
    uint32_t nb;

    if (mem_bytes <= HDR_BYTES + 64)
        return 0;
    room = mem_bytes - HDR_BYTES - 64; /* 64: the bucket array's alignment */
    n = room / (sizeof(rl_entry) + sizeof(uint32_t));
    nb = buckets_for(n);
    n = (room - (size_t)nb * sizeof(uint32_t)) / sizeof(rl_entry);
    if (n > NIL - 1)
        n = NIL - 1;
    *nbuckets = nb;
    return (uint32_t)n;
}

size_t host_rl_min_bytes(void)
{
    return HDR_BYTES + 64 + HOST_RL_MIN_ENTRIES * (sizeof(rl_entry) + sizeof(uint32_t));
}

/* Empties the table: every entry on the free list. */
static void table_reset(host_rl_table *t)
{
    uint32_t *b = buckets(t), i;
    rl_entry *e = entries(t);

    for (i = 0; i < t->nbuckets; i++)
        b[i] = NIL;
    for (i = 0; i < t->capacity; i++) {
        e[i].hnext = i + 1 < t->capacity ? i + 1 : NIL;
        e[i].prev = e[i].next = NIL;
        e[i].tat = 0;
        e[i].live = 0;
    }
    t->free_head = t->capacity ? 0 : NIL;
    t->head = t->tail = NIL;
    t->used = 0;
}

host_rl_table *host_rl_init(void *mem, size_t mem_bytes, double rate, uint32_t burst, int shared)
{
    host_rl_table *t = mem;
    pthread_mutexattr_t a;
    uint32_t nb = 0, cap;
    int64_t interval, tau;
    char err[128];
    int rc;

    if (!mem || ((uintptr_t)mem & 63) != 0 ||
        host_rl_params(rate, burst, &interval, &tau, err, sizeof err) != 0)
        return NULL;
    if (mem_bytes < host_rl_min_bytes() ||
        (cap = capacity_for(mem_bytes, &nb)) < HOST_RL_MIN_ENTRIES)
        return NULL;
    memset(t, 0, sizeof *t);
    if (pthread_mutexattr_init(&a) != 0)
        return NULL;
    rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (rc == 0 && shared)
        rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutex_init(&t->lock, &a);
    pthread_mutexattr_destroy(&a);
    if (rc != 0)
        return NULL;
    t->interval_ns = interval;
    t->tau_ns = tau;
    t->burst = burst;
    t->capacity = cap;
    t->nbuckets = nb;
    table_reset(t);
    t->magic = TABLE_MAGIC;
    return t;
}

void host_rl_destroy(host_rl_table *t)
{
    if (t && t->magic == TABLE_MAGIC) {
        pthread_mutex_destroy(&t->lock);
        t->magic = 0;
    }
}

uint32_t host_rl_capacity(const host_rl_table *t)
{
    return t->capacity;
}

uint32_t host_rl_used(const host_rl_table *t)
{
    return t->used;
}

static void lru_push_front(host_rl_table *t, uint32_t i);
static uint32_t bucket_of(const host_rl_table *t, const uint8_t *key);

static int cmp_stamp(const void *a, const void *b, void *arg)
{
    const rl_entry *e = arg;
    uint64_t x = e[*(const uint32_t *)a].stamp, y = e[*(const uint32_t *)b].stamp;

    return x < y ? -1 : x > y;
}

/* After a holder died: the links are rebuilt from what every entry says
 * of itself (live, key, stamp); the keys and their budgets stay.  Without
 * memory for the sort, the table starts over instead. */
static void table_rebuild(host_rl_table *t)
{
    rl_entry *e = entries(t);
    uint32_t *b = buckets(t), *order = malloc((size_t)t->capacity * sizeof *order);
    uint32_t i, n = 0, k;

    if (!order) {
        table_reset(t);
        return;
    }
    for (i = 0; i < t->nbuckets; i++)
        b[i] = NIL;
    t->free_head = t->head = t->tail = NIL;
    for (i = t->capacity; i-- > 0;) {
        e[i].prev = e[i].next = NIL;
        if (e[i].live) {
            order[n++] = i;
        } else {
            e[i].hnext = t->free_head;
            t->free_head = i;
        }
    }
    qsort_r(order, n, sizeof *order, cmp_stamp, e);
    for (k = 0; k < n; k++) { /* oldest first: the newest ends at the head */
        i = order[k];
        e[i].hnext = b[bucket_of(t, e[i].key)];
        b[bucket_of(t, e[i].key)] = i;
        lru_push_front(t, i);
    }
    t->used = n;
    free(order);
}

/* The previous holder died with the lock: what it was changing may be
 * half done, so the links are rebuilt rather than followed. */
static int table_lock(host_rl_table *t, int *recovered)
{
    int rc = pthread_mutex_lock(&t->lock);

    if (rc == EOWNERDEAD) {
        table_rebuild(t);
        pthread_mutex_consistent(&t->lock);
        *recovered = 1;
        return 0;
    }
    return rc == 0 ? 0 : -1;
}

static uint32_t bucket_of(const host_rl_table *t, const uint8_t *key)
{
    uint32_t h;

    memcpy(&h, key, sizeof h); /* a keyed digest: its bytes are uniform */
    return h & (t->nbuckets - 1);
}

static uint32_t find(host_rl_table *t, const uint8_t *key)
{
    rl_entry *e = entries(t);
    uint32_t i = buckets(t)[bucket_of(t, key)];

    while (i != NIL && memcmp(e[i].key, key, HOST_RL_KEY_BYTES) != 0)
        i = e[i].hnext;
    return i;
}

static void lru_unlink(host_rl_table *t, uint32_t i)
{
    rl_entry *e = entries(t);

    if (e[i].prev != NIL)
        e[e[i].prev].next = e[i].next;
    else
        t->head = e[i].next;
    if (e[i].next != NIL)
        e[e[i].next].prev = e[i].prev;
    else
        t->tail = e[i].prev;
    e[i].prev = e[i].next = NIL;
}

static void lru_push_front(host_rl_table *t, uint32_t i)
{
    rl_entry *e = entries(t);

    e[i].prev = NIL;
    e[i].next = t->head;
    if (t->head != NIL)
        e[t->head].prev = i;
    t->head = i;
    if (t->tail == NIL)
        t->tail = i;
}

static void bucket_unlink(host_rl_table *t, uint32_t i)
{
    rl_entry *e = entries(t);
    uint32_t *p = &buckets(t)[bucket_of(t, e[i].key)];

    while (*p != NIL && *p != i)
        p = &e[*p].hnext;
    if (*p == i)
        *p = e[i].hnext;
}

/* An entry for a new key: a free one, or the least recently used one.
 * *evicted says whether the one taken still held state (its TAT in the
 * future); an expired key is as good as fresh and its loss counts for
 * nothing. */
static uint32_t entry_for_new_key(host_rl_table *t, int64_t now_ns, int *evicted)
{
    rl_entry *e = entries(t);
    uint32_t i = t->free_head;

    if (i != NIL) {
        t->free_head = e[i].hnext;
        t->used++;
        return i;
    }
    i = t->tail;
    *evicted = e[i].tat > now_ns;
    /* Out before any link changes: dying after this loses this key only. */
    __atomic_store_n(&e[i].live, 0, __ATOMIC_SEQ_CST);
    bucket_unlink(t, i);
    lru_unlink(t, i);
    return i;
}

int host_rl_take_args(const char *key, uint32_t cost, uint32_t burst, char *why, size_t whylen)
{
    if (!key) {
        snprintf(why, whylen, "limit_take: key is NULL");
        return -1;
    }
    if (cost < 1 || cost > burst) {
        snprintf(why, whylen, "limit_take: cost %u is not between 1 and the burst (%u)", cost,
                 burst);
        return -1;
    }
    return 0;
}

int host_rl_take(host_rl_table *t, const uint8_t key[HOST_RL_KEY_BYTES], uint32_t cost,
                 int64_t now_ns, host_rl_result *out)
{
    rl_entry *e;
    int64_t new_tat = 0, retry = 0;
    uint32_t i, b;

    memset(out, 0, sizeof *out);
    if (!t || t->magic != TABLE_MAGIC || cost < 1 || cost > t->burst)
        return -1;
    if (table_lock(t, &out->recovered) != 0)
        return -1;
    e = entries(t);
    i = find(t, key);
    out->allowed = host_gcra(i != NIL ? e[i].tat : 0, now_ns, t->interval_ns, t->tau_ns, cost,
                             &new_tat, &retry);
    if (i != NIL) {
        if (out->allowed)
            e[i].tat = new_tat;
        e[i].stamp = ++t->clock;
        lru_unlink(t, i);
        lru_push_front(t, i);
    } else if (out->allowed) {
        /* (A refused new key stores nothing: it has nothing to remember.) */
        i = entry_for_new_key(t, now_ns, &out->evicted);
        memcpy(e[i].key, key, HOST_RL_KEY_BYTES);
        e[i].tat = new_tat;
        e[i].stamp = ++t->clock;
        /* In once its key and state are whole, before any link. */
        __atomic_store_n(&e[i].live, 1, __ATOMIC_SEQ_CST);
        b = bucket_of(t, key);
        e[i].hnext = buckets(t)[b];
        buckets(t)[b] = i;
        lru_push_front(t, i);
    }
    pthread_mutex_unlock(&t->lock);
    if (!out->allowed)
        out->retry_ms = retry <= 0 ? 1 : (uint64_t)((retry + 999999) / 1000000);
    return 0;
}

int host_rl_contains(host_rl_table *t, const uint8_t key[HOST_RL_KEY_BYTES])
{
    int recovered = 0, found;

    if (table_lock(t, &recovered) != 0)
        return -1;
    found = find(t, key) != NIL;
    pthread_mutex_unlock(&t->lock);
    return found;
}

int host_rl_lock_for_test(host_rl_table *t)
{
    int recovered = 0;

    return table_lock(t, &recovered);
}

/* Walks of at most capacity steps, so a cycle fails instead of hanging. */
static int check_links(host_rl_table *t)
{
    rl_entry *e = entries(t);
    uint32_t i, j, n = 0, nfree = 0, prev = NIL;

    for (i = t->head; i != NIL; prev = i, i = e[i].next) {
        if (i >= t->capacity || ++n > t->capacity || !e[i].live || e[i].prev != prev)
            return -1;
        if (prev != NIL && e[prev].stamp < e[i].stamp)
            return -1;
        for (j = buckets(t)[bucket_of(t, e[i].key)]; j != NIL && j != i; j = e[j].hnext)
            if (j >= t->capacity)
                return -1;
        if (j != i)
            return -1;
    }
    if (prev != t->tail || n != t->used)
        return -1;
    for (i = t->free_head; i != NIL; i = e[i].hnext)
        if (i >= t->capacity || e[i].live || ++nfree > t->capacity)
            return -1;
    return n + nfree == t->capacity ? 0 : -1;
}

int host_rl_check(host_rl_table *t)
{
    int recovered = 0, rc;

    if (table_lock(t, &recovered) != 0)
        return -1;
    rc = check_links(t);
    pthread_mutex_unlock(&t->lock);
    return rc;
}
