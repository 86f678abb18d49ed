/* store_test: the LMDB env of a worker: open/close and the worker lock,
 * put/get/del, DUPSORT+DUPFIXED cursors, APPEND, map growth with replay in
 * store_write, info, compacted copies and read transaction reuse. */
#include "test.h"

#include "store.h"

enum { DB_MAIN, DB_DUPS, DB_SEQ, N_DBS };

static const store_dbi_spec_t s_specs[N_DBS] = {
    [DB_MAIN] = {"main", 0},
    [DB_DUPS] = {"dups", STORE_DB_DUPSORT | STORE_DB_DUPFIXED},
    [DB_SEQ] = {"seq", 0},
};

#define MIB (1024u * 1024u)

static store_t *s_open_at(const char *dir, uint64_t map_size, config_sync_t sync)
{
    store_t *s = NULL;
    char err[512] = "";
    rp_err rc = store_open(dir, s_specs, N_DBS, map_size, sync, &s, err, sizeof(err));
    if (rc != RP_OK)
        FAIL("store_open(%s): RP_%s (%s): %s", dir, rp_err_name(rc), rp_strerror(rc), err);
    return s;
}

static store_t *s_open(const char *name, uint64_t map_size)
{
    char dir[600];
    test_path(dir, sizeof(dir), name);
    return s_open_at(dir, map_size, CONFIG_SYNC_NONE);
}

static void s_put_str(store_txn_t *t, store_dbi_t dbi, const char *k, const char *v, unsigned fl)
{
    ASSERT_OK(store_put(t, dbi, k, strlen(k), v, strlen(v), fl));
}

static void s_expect(store_txn_t *t, store_dbi_t dbi, const char *k, const char *v)
{
    store_val_t val;
    ASSERT_OK(store_get(t, dbi, k, strlen(k), &val));
    ASSERT_EQ_MEM(val.data, val.len, v, strlen(v));
}

static void s_u64_keys(void)
{
    uint8_t a[8], b[8];

    store_u64_key(0x0102030405060708ull, a);
    ASSERT_EQ_MEM(a, 8, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    ASSERT_EQ_U64(store_key_u64(a), 0x0102030405060708ull);
    /* big-endian keys sort by memcmp as the numbers do */
    for (uint64_t x = 1; x < 100000; x = x * 3 + 1) {
        store_u64_key(x, a);
        store_u64_key(x + 1, b);
        ASSERT_TRUE(memcmp(a, b, 8) < 0);
        ASSERT_EQ_U64(store_key_u64(a), x);
    }
    store_u64_key(UINT64_MAX, a);
    ASSERT_EQ_U64(store_key_u64(a), UINT64_MAX);
}

static void s_open_close(void)
{
    store_t *s = s_open("a/b/c", MIB), *none = NULL;
    char path[600];
    struct stat sb;

    test_path(path, sizeof(path), "a/b/c/data.mdb");
    ASSERT_TRUE(stat(path, &sb) == 0);
    test_path(path, sizeof(path), "a/b/c/worker.lock");
    ASSERT_TRUE(stat(path, &sb) == 0);
    ASSERT_NE_INT(store_dbi(s, DB_MAIN), store_dbi(s, DB_DUPS));
    ASSERT_EQ_STR(store_last_error(NULL), "");
    store_close(&s);
    ASSERT_TRUE(s == NULL);
    store_close(&s);
    store_close(&none);
    store_close(NULL);

    /* a directory that cannot be created */
    char err[512] = "";
    test_path(path, sizeof(path), "file");
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    test_path(path, sizeof(path), "file/sub");
    ASSERT_TRUE(store_open(path, s_specs, N_DBS, MIB, CONFIG_SYNC_NONE, &s, err, sizeof(err)) !=
                RP_OK);
    ASSERT_TRUE(s == NULL);
    ASSERT_CONTAINS(err, "file/sub");
}

static void s_put_get_del(void)
{
    store_t *s = s_open("db", MIB);
    store_dbi_t db = store_dbi(s, DB_MAIN);
    store_txn_t *t;
    store_val_t v;
    uint64_t n;
    void *p;

    ASSERT_OK(store_txn_begin(s, true, &t));
    s_put_str(t, db, "alpha", "1", 0);
    s_put_str(t, db, "beta", "2", 0);
    s_put_str(t, db, "gamma", "3", 0);
    s_expect(t, db, "beta", "2"); /* visible inside the txn */
    s_put_str(t, db, "beta", "22", 0);
    s_expect(t, db, "beta", "22");
    ASSERT_ERR(store_put(t, db, "beta", 4, "x", 1, STORE_PUT_NOOVERWRITE), RP_EEXIST);
    ASSERT_OK(store_reserve(t, db, "delta", 5, 4, 0, &p));
    memcpy(p, "four", 4);
    ASSERT_ERR(store_put(t, db, "", 0, "x", 1, 0), RP_EINVAL); /* empty key */
    ASSERT_OK(store_txn_commit(t));

    ASSERT_OK(store_txn_begin(s, false, &t));
    s_expect(t, db, "alpha", "1");
    s_expect(t, db, "beta", "22");
    s_expect(t, db, "delta", "four");
    v.len = 77;
    ASSERT_ERR(store_get(t, db, "zeta", 4, &v), RP_ENOTFOUND);
    ASSERT_EQ_U64(v.len, 77); /* untouched */
    ASSERT_OK(store_count(t, db, &n));
    ASSERT_EQ_U64(n, 4);
    store_txn_abort(t);

    ASSERT_OK(store_txn_begin(s, true, &t));
    ASSERT_OK(store_del(t, db, "alpha", 5, NULL, 0));
    ASSERT_ERR(store_del(t, db, "alpha", 5, NULL, 0), RP_ENOTFOUND);
    ASSERT_ERR(store_get(t, db, "alpha", 5, &v), RP_ENOTFOUND);
    store_txn_abort(t); /* aborted: alpha is back */

    ASSERT_OK(store_txn_begin(s, false, &t));
    s_expect(t, db, "alpha", "1");
    ASSERT_OK(store_txn_commit(t)); /* commit of a read txn just ends it */

    ASSERT_OK(store_txn_begin(s, true, &t));
    ASSERT_OK(store_drop(t, db));
    ASSERT_OK(store_count(t, db, &n));
    ASSERT_EQ_U64(n, 0);
    ASSERT_OK(store_txn_commit(t));
    store_txn_abort(NULL);
    store_close(&s);
}

static void s_persists_across_reopen(void)
{
    char dir[600];
    store_t *s;
    store_txn_t *t;

    test_path(dir, sizeof(dir), "db");
    s = s_open_at(dir, MIB, CONFIG_SYNC_FULL);
    ASSERT_OK(store_txn_begin(s, true, &t));
    s_put_str(t, store_dbi(s, DB_MAIN), "k", "durable", 0);
    s_put_str(t, store_dbi(s, DB_SEQ), "s", "other dbi", 0);
    ASSERT_OK(store_txn_commit(t));
    store_close(&s);

    s = s_open_at(dir, MIB, CONFIG_SYNC_NOMETA);
    ASSERT_OK(store_txn_begin(s, false, &t));
    s_expect(t, store_dbi(s, DB_MAIN), "k", "durable");
    s_expect(t, store_dbi(s, DB_SEQ), "s", "other dbi");
    store_val_t v;
    ASSERT_ERR(store_get(t, store_dbi(s, DB_SEQ), "k", 1, &v), RP_ENOTFOUND); /* DBIs apart */
    store_txn_abort(t);
    store_close(&s);
}

static void s_dupsort_cursors(void)
{
    store_t *s = s_open("db", MIB);
    store_dbi_t db = store_dbi(s, DB_DUPS);
    store_txn_t *t;
    store_cursor_t *c;
    store_val_t k, v;
    uint8_t key_a[8], key_b[8], val[8];
    uint64_t n;
    static const uint64_t a_vals[] = {30, 10, 20, 50, 40};

    store_u64_key(1, key_a);
    store_u64_key(2, key_b);
    ASSERT_OK(store_txn_begin(s, true, &t));
    for (size_t i = 0; i < 5; i++) {
        store_u64_key(a_vals[i], val);
        ASSERT_OK(store_put(t, db, key_a, 8, val, 8, 0));
    }
    store_u64_key(20, val);
    ASSERT_ERR(store_put(t, db, key_a, 8, val, 8, STORE_PUT_NODUPDATA), RP_EEXIST);
    for (uint64_t x = 1; x <= 3; x++) {
        store_u64_key(x * 100, val);
        ASSERT_OK(store_put(t, db, key_b, 8, val, 8, STORE_PUT_APPENDDUP));
    }
    store_u64_key(150, val); /* not after the last value of key_b */
    ASSERT_ERR(store_put(t, db, key_b, 8, val, 8, STORE_PUT_APPENDDUP), RP_EEXIST);
    ASSERT_OK(store_txn_commit(t));

    ASSERT_OK(store_txn_begin(s, false, &t));
    ASSERT_OK(store_count(t, db, &n));
    ASSERT_EQ_U64(n, 8); /* items, duplicates included */
    ASSERT_OK(store_cursor_open(t, db, &c));
    /* the values of a key, sorted */
    k.len = 8;
    k.data = key_a;
    ASSERT_OK(store_cursor_get(c, STORE_SET, &k, &v));
    ASSERT_OK(store_cursor_get(c, STORE_FIRST_DUP, &k, &v));
    for (uint64_t want = 10; want <= 50; want += 10) {
        ASSERT_EQ_U64(v.len, 8);
        ASSERT_EQ_U64(store_key_u64(v.data), want);
        rp_err rc = store_cursor_get(c, STORE_NEXT_DUP, &k, &v);
        if (want < 50)
            ASSERT_OK(rc);
        else
            ASSERT_ERR(rc, RP_ENOTFOUND);
    }
    ASSERT_OK(store_cursor_get(c, STORE_LAST_DUP, &k, &v));
    ASSERT_EQ_U64(store_key_u64(v.data), 50);
    ASSERT_OK(store_cursor_get(c, STORE_PREV_DUP, &k, &v));
    ASSERT_EQ_U64(store_key_u64(v.data), 40);
    /* exact pair and first value >= */
    store_u64_key(30, val);
    k.data = key_a;
    k.len = 8;
    v.data = val;
    v.len = 8;
    ASSERT_OK(store_cursor_get(c, STORE_GET_BOTH, &k, &v));
    store_u64_key(35, val);
    v.data = val;
    v.len = 8;
    ASSERT_ERR(store_cursor_get(c, STORE_GET_BOTH, &k, &v), RP_ENOTFOUND);
    v.data = val;
    v.len = 8;
    ASSERT_OK(store_cursor_get(c, STORE_GET_BOTH_RANGE, &k, &v));
    ASSERT_EQ_U64(store_key_u64(v.data), 40);
    /* key by key */
    ASSERT_OK(store_cursor_get(c, STORE_FIRST, &k, &v));
    ASSERT_EQ_U64(store_key_u64(k.data), 1);
    ASSERT_OK(store_cursor_get(c, STORE_NEXT_NODUP, &k, &v));
    ASSERT_EQ_U64(store_key_u64(k.data), 2);
    ASSERT_EQ_U64(store_key_u64(v.data), 100);
    ASSERT_ERR(store_cursor_get(c, STORE_NEXT_NODUP, &k, &v), RP_ENOTFOUND);
    ASSERT_OK(store_cursor_get(c, STORE_LAST, &k, &v));
    ASSERT_EQ_U64(store_key_u64(v.data), 300);
    ASSERT_OK(store_cursor_get(c, STORE_PREV_NODUP, &k, &v));
    ASSERT_EQ_U64(store_key_u64(k.data), 1);
    ASSERT_OK(store_cursor_get(c, STORE_GET_CURRENT, &k, &v));
    ASSERT_EQ_U64(store_key_u64(k.data), 1);
    /* range and walk over everything, with NULL key/val allowed */
    store_u64_key(2, val);
    k.data = val;
    k.len = 8;
    ASSERT_OK(store_cursor_get(c, STORE_SET_RANGE, &k, &v));
    ASSERT_EQ_U64(store_key_u64(k.data), 2);
    ASSERT_OK(store_cursor_get(c, STORE_FIRST, NULL, NULL));
    n = 1;
    while (store_cursor_get(c, STORE_NEXT, NULL, &v) == RP_OK)
        n++;
    ASSERT_EQ_U64(n, 8);
    ASSERT_OK(store_cursor_get(c, STORE_PREV, &k, &v));
    store_cursor_close(c);
    store_cursor_close(NULL);
    store_txn_abort(t);

    /* delete one pair, then a key with all its values through a cursor */
    ASSERT_OK(store_txn_begin(s, true, &t));
    store_u64_key(30, val);
    ASSERT_OK(store_del(t, db, key_a, 8, val, 8));
    ASSERT_ERR(store_del(t, db, key_a, 8, val, 8), RP_ENOTFOUND);
    ASSERT_OK(store_cursor_open(t, db, &c));
    k.data = key_b;
    k.len = 8;
    ASSERT_OK(store_cursor_get(c, STORE_SET, &k, &v));
    ASSERT_OK(store_cursor_del(c, true));
    /* cursor put: a new pair, then replace in place */
    k.data = key_b;
    k.len = 8;
    store_u64_key(7, val);
    v.data = val;
    v.len = 8;
    ASSERT_OK(store_cursor_put(c, &k, &v, 0));
    store_cursor_close(c);
    ASSERT_OK(store_count(t, db, &n));
    ASSERT_EQ_U64(n, 4 + 1);
    ASSERT_OK(store_txn_commit(t));

    /* a plain DBI: cursor put with CURRENT replaces the value; after a
     * cursor delete the cursor stands on the next item */
    db = store_dbi(s, DB_MAIN);
    ASSERT_OK(store_txn_begin(s, true, &t));
    s_put_str(t, db, "k1", "old", 0);
    s_put_str(t, db, "k2", "two", 0);
    ASSERT_OK(store_cursor_open(t, db, &c));
    ASSERT_OK(store_cursor_get(c, STORE_FIRST, &k, &v));
    v.data = (void *)(uintptr_t) "new";
    v.len = 3;
    ASSERT_OK(store_cursor_put(c, &k, &v, STORE_PUT_CURRENT));
    s_expect(t, db, "k1", "new");
    ASSERT_OK(store_cursor_get(c, STORE_FIRST, &k, &v));
    ASSERT_OK(store_cursor_del(c, false));
    ASSERT_OK(store_cursor_get(c, STORE_GET_CURRENT, &k, &v));
    ASSERT_EQ_MEM(k.data, k.len, "k2", 2);
    ASSERT_OK(store_cursor_del(c, false));
    /* the DBI is empty now: LMDB leaves the cursor unpositioned (EINVAL
     * for GET_CURRENT), so callers re-seek, which finds nothing */
    ASSERT_TRUE(store_cursor_get(c, STORE_GET_CURRENT, &k, &v) != RP_OK);
    ASSERT_ERR(store_cursor_get(c, STORE_FIRST, &k, &v), RP_ENOTFOUND);
    store_cursor_close(c);
    ASSERT_ERR(store_get(t, db, "k1", 2, &v), RP_ENOTFOUND);
    ASSERT_OK(store_txn_commit(t));
    store_close(&s);
}

static void s_append(void)
{
    store_t *s = s_open("db", 8 * MIB);
    store_dbi_t db = store_dbi(s, DB_SEQ);
    store_txn_t *t;
    store_cursor_t *c;
    store_val_t k, v;
    uint8_t key[8];
    uint64_t n, expect = 1;

    ASSERT_OK(store_txn_begin(s, true, &t));
    for (uint64_t i = 1; i <= 20000; i++) {
        store_u64_key(i, key);
        ASSERT_OK(store_put(t, db, key, 8, &i, sizeof(i), STORE_PUT_APPEND));
    }
    /* APPEND of a key that is not greater than the last */
    store_u64_key(500, key);
    ASSERT_ERR(store_put(t, db, key, 8, "x", 1, STORE_PUT_APPEND), RP_EEXIST);
    store_u64_key(20000, key);
    ASSERT_ERR(store_put(t, db, key, 8, "x", 1, STORE_PUT_APPEND), RP_EEXIST);
    ASSERT_OK(store_txn_commit(t));

    ASSERT_OK(store_txn_begin(s, false, &t));
    ASSERT_OK(store_count(t, db, &n));
    ASSERT_EQ_U64(n, 20000);
    ASSERT_OK(store_cursor_open(t, db, &c));
    for (rp_err rc = store_cursor_get(c, STORE_FIRST, &k, &v); rc == RP_OK;
         rc = store_cursor_get(c, STORE_NEXT, &k, &v)) {
        uint64_t got;
        ASSERT_EQ_U64(store_key_u64(k.data), expect);
        memcpy(&got, v.data, sizeof(got));
        ASSERT_EQ_U64(got, expect);
        expect++;
    }
    ASSERT_EQ_U64(expect, 20001);
    store_cursor_close(c);
    store_txn_abort(t);
    store_close(&s);
}

/* ---- map growth ---- */

#define BIG_VAL   1000
#define BIG_COUNT 21000 /* about 20 MiB of values */

typedef struct {
    store_dbi_t db;
    unsigned runs;
    size_t count;
} fill_t;

static void s_fill_value(uint64_t i, uint8_t out[BIG_VAL])
{
    for (size_t k = 0; k < BIG_VAL; k++)
        out[k] = (uint8_t)((i * 31 + k) & 0xFF);
}

static rp_err s_fill(store_txn_t *t, void *ctx)
{
    fill_t *f = ctx;
    uint8_t key[8], val[BIG_VAL];

    f->runs++;
    for (uint64_t i = 0; i < f->count; i++) {
        rp_err rc;
        store_u64_key(i, key);
        s_fill_value(i, val);
        rc = store_put(t, f->db, key, 8, val, BIG_VAL, STORE_PUT_APPEND);
        if (rc != RP_OK)
            return rc; /* RP_EMAPFULL: store_write grows and replays */
    }
    return RP_OK;
}

static void s_write_replays_after_map_full(void)
{
    store_t *s = s_open("db", MIB);
    fill_t f = {store_dbi(s, DB_SEQ), 0, BIG_COUNT};
    unsigned attempts = 0;
    store_info_t info;
    store_txn_t *t;
    uint64_t n;

    ASSERT_OK(store_write(s, s_fill, &f, &attempts));
    ASSERT_TRUE(attempts > 1);
    ASSERT_EQ_U64(f.runs, attempts);
    ASSERT_OK(store_info(s, &info));
    ASSERT_TRUE(info.map_size >= (uint64_t)BIG_COUNT * BIG_VAL);
    ASSERT_TRUE(info.used_bytes >= (uint64_t)BIG_COUNT * BIG_VAL);
    ASSERT_TRUE(info.used_bytes <= info.map_size);

    ASSERT_OK(store_txn_begin(s, false, &t));
    ASSERT_OK(store_count(t, f.db, &n));
    ASSERT_EQ_U64(n, BIG_COUNT);
    for (uint64_t i = 0; i < BIG_COUNT; i++) {
        uint8_t key[8], want[BIG_VAL];
        store_val_t v;
        store_u64_key(i, key);
        s_fill_value(i, want);
        ASSERT_OK(store_get(t, f.db, key, 8, &v));
        ASSERT_EQ_MEM(v.data, v.len, want, BIG_VAL);
    }
    store_txn_abort(t);

    /* the grown map is kept: a second batch of the same size fits at once */
    unsigned again = 0;
    store_close(&s);
    s = s_open("db", MIB);
    f.db = store_dbi(s, DB_MAIN);
    f.runs = 0;
    f.count = 100;
    ASSERT_OK(store_write(s, s_fill, &f, &again));
    ASSERT_EQ_INT(again, 1);
    store_close(&s);
}

typedef struct {
    store_dbi_t db;
    rp_err fail_with;
} fail_t;

static rp_err s_put_then_fail(store_txn_t *t, void *ctx)
{
    fail_t *f = ctx;
    rp_err rc = store_put(t, f->db, "half", 4, "done", 4, 0);
    return rc != RP_OK ? rc : f->fail_with;
}

/* Any error of the function other than map full aborts the txn. */
static void s_write_error_aborts(void)
{
    store_t *s = s_open("db", MIB);
    fail_t f = {store_dbi(s, DB_MAIN), RP_EINVAL};
    unsigned attempts = 0;
    store_txn_t *t;
    store_val_t v;

    ASSERT_ERR(store_write(s, s_put_then_fail, &f, &attempts), RP_EINVAL);
    ASSERT_EQ_INT(attempts, 1);
    ASSERT_OK(store_txn_begin(s, false, &t));
    ASSERT_ERR(store_get(t, f.db, "half", 4, &v), RP_ENOTFOUND);
    store_txn_abort(t);
    f.fail_with = RP_OK;
    ASSERT_OK(store_write(s, s_put_then_fail, &f, NULL));
    ASSERT_OK(store_txn_begin(s, false, &t));
    s_expect(t, f.db, "half", "done");
    store_txn_abort(t);
    store_close(&s);
}

/* The worker lock: flock is per open file description, so even a second
 * open from this same process conflicts, as a second worker would. */
static void s_second_open_refused(void)
{
    char dir[600], err[512] = "";
    store_t *s, *s2 = NULL;

    test_path(dir, sizeof(dir), "db");
    s = s_open_at(dir, MIB, CONFIG_SYNC_NONE);
    ASSERT_ERR(store_open(dir, s_specs, N_DBS, MIB, CONFIG_SYNC_NONE, &s2, err, sizeof(err)),
               RP_EADDRINUSE);
    ASSERT_TRUE(s2 == NULL);
    ASSERT_CONTAINS(err, dir);
    ASSERT_CONTAINS(err, "in use");

    /* from another process too */
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        store_t *s3 = NULL;
        rp_err rc = store_open(dir, s_specs, N_DBS, MIB, CONFIG_SYNC_NONE, &s3, NULL, 0);
        _exit(rc == RP_EADDRINUSE ? 0 : 1);
    }
    int status = 0;
    ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* the first store still works, and after close the dir opens again */
    store_txn_t *t;
    ASSERT_OK(store_txn_begin(s, true, &t));
    s_put_str(t, store_dbi(s, DB_MAIN), "k", "v", 0);
    ASSERT_OK(store_txn_commit(t));
    store_close(&s);
    s = s_open_at(dir, MIB, CONFIG_SYNC_NONE);
    ASSERT_OK(store_txn_begin(s, false, &t));
    s_expect(t, store_dbi(s, DB_MAIN), "k", "v");
    store_txn_abort(t);
    store_close(&s);
}

static void s_info(void)
{
    store_t *s = s_open("db", 4 * MIB);
    store_info_t info;
    store_txn_t *t, *r1, *r2;

    ASSERT_OK(store_txn_begin(s, true, &t));
    for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "key%06d", i);
        s_put_str(t, store_dbi(s, DB_MAIN), k, "some value of a few bytes", 0);
    }
    ASSERT_OK(store_txn_commit(t));
    ASSERT_OK(store_info(s, &info));
    ASSERT_EQ_U64(info.map_size, 4 * MIB);
    ASSERT_TRUE(info.used_bytes > 4096 * 4);
    ASSERT_TRUE(info.used_bytes <= info.map_size);
    ASSERT_TRUE(info.file_bytes >= info.used_bytes);
    ASSERT_TRUE(info.max_readers >= 126);
    ASSERT_EQ_U64(info.stale_readers_cleared, 0);

    ASSERT_OK(store_txn_begin(s, false, &r1));
    ASSERT_OK(store_txn_begin(s, false, &r2));
    ASSERT_OK(store_info(s, &info));
    ASSERT_TRUE(info.readers_used >= 2);
    store_txn_abort(r1);
    store_txn_abort(r2);
    store_close(&s);
}

static void s_copy(void)
{
    store_t *s = s_open("src", 4 * MIB), *c;
    store_txn_t *t;
    char dst[600];
    uint64_t n;

    ASSERT_OK(store_txn_begin(s, true, &t));
    for (int i = 0; i < 2000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "key%06d", i);
        s_put_str(t, store_dbi(s, DB_MAIN), k, k, 0);
    }
    uint8_t key[8], val[8];
    store_u64_key(5, key);
    store_u64_key(6, val);
    ASSERT_OK(store_put(t, store_dbi(s, DB_DUPS), key, 8, val, 8, 0));
    ASSERT_OK(store_txn_commit(t));
    /* delete half: the compacted copy is smaller than the source */
    ASSERT_OK(store_txn_begin(s, true, &t));
    for (int i = 0; i < 2000; i += 2) {
        char k[16];
        snprintf(k, sizeof(k), "key%06d", i);
        ASSERT_OK(store_del(t, store_dbi(s, DB_MAIN), k, strlen(k), NULL, 0));
    }
    ASSERT_OK(store_txn_commit(t));

    /* copy while a read txn is open (the store keeps serving) */
    store_txn_t *r;
    ASSERT_OK(store_txn_begin(s, false, &r));
    test_path(dst, sizeof(dst), "backup/copy");
    ASSERT_OK(store_copy(s, dst));
    store_txn_abort(r);

    c = s_open_at(dst, 4 * MIB, CONFIG_SYNC_NONE);
    ASSERT_OK(store_txn_begin(c, false, &t));
    ASSERT_OK(store_count(t, store_dbi(c, DB_MAIN), &n));
    ASSERT_EQ_U64(n, 1000);
    s_expect(t, store_dbi(c, DB_MAIN), "key000001", "key000001");
    s_expect(t, store_dbi(c, DB_MAIN), "key001999", "key001999");
    store_val_t v;
    ASSERT_ERR(store_get(t, store_dbi(c, DB_MAIN), "key000000", 9, &v), RP_ENOTFOUND);
    ASSERT_OK(store_get(t, store_dbi(c, DB_DUPS), key, 8, &v));
    ASSERT_EQ_U64(store_key_u64(v.data), 6);
    store_txn_abort(t);
    store_close(&c);

    /* a copy into a non-empty env directory fails */
    ASSERT_TRUE(store_copy(s, dst) != RP_OK);
    store_close(&s);
}

/* A read txn ended with abort is kept and renewed by the next begin; the
 * renewed one must see what was committed meanwhile. */
static void s_read_txn_reuse(void)
{
    store_t *s = s_open("db", MIB);
    store_dbi_t db = store_dbi(s, DB_MAIN);
    store_txn_t *r, *w, *r2, *r3;
    store_val_t v;

    ASSERT_OK(store_txn_begin(s, false, &r));
    ASSERT_ERR(store_get(r, db, "k", 1, &v), RP_ENOTFOUND);
    store_txn_abort(r);

    for (int round = 0; round < 20; round++) {
        char val[16];
        snprintf(val, sizeof(val), "v%d", round);
        ASSERT_OK(store_txn_begin(s, true, &w));
        s_put_str(w, db, "k", val, 0);
        ASSERT_OK(store_txn_commit(w));
        ASSERT_OK(store_txn_begin(s, false, &r));
        s_expect(r, db, "k", val);
        store_txn_abort(r);
    }

    /* a snapshot stays a snapshot while a write commits */
    ASSERT_OK(store_txn_begin(s, false, &r));
    ASSERT_OK(store_txn_begin(s, true, &w));
    s_put_str(w, db, "k", "later", 0);
    ASSERT_OK(store_txn_commit(w));
    s_expect(r, db, "k", "v19");
    /* two read txns at once, ended in either order */
    ASSERT_OK(store_txn_begin(s, false, &r2));
    s_expect(r2, db, "k", "later");
    store_txn_abort(r);
    ASSERT_OK(store_txn_begin(s, false, &r3)); /* the renewed one */
    s_expect(r3, db, "k", "later");
    store_txn_abort(r2);
    store_txn_abort(r3);
    ASSERT_OK(store_txn_begin(s, false, &r));
    s_expect(r, db, "k", "later");
    ASSERT_OK(store_txn_commit(r));

    /* a cached read txn does not stop the map from growing */
    fill_t f = {store_dbi(s, DB_SEQ), 0, 3000};
    unsigned attempts = 0;
    ASSERT_OK(store_txn_begin(s, false, &r));
    store_txn_abort(r);
    ASSERT_OK(store_write(s, s_fill, &f, &attempts));
    ASSERT_TRUE(attempts > 1);
    ASSERT_OK(store_txn_begin(s, false, &r));
    ASSERT_OK(store_get(r, f.db, "\0\0\0\0\0\0\x0b\xb7", 8, &v)); /* key 2999 */
    store_txn_abort(r);
    store_close(&s);
}

/* store_cursor_after: the first key past a page's last one, whether that
 * key is stored, between two stored keys, before them all or after them. */
static void s_cursor_after(void)
{
    static const struct {
        const char *after, *want;
    } cases[] = {
        {"", "b"},   {"a", "b"}, {"b", "bb"}, {"ba", "bb"},
        {"bb", "d"}, {"c", "d"}, {"d", NULL}, {"zz", NULL},
    };
    store_t *s = s_open("after", MIB);
    store_dbi_t db = store_dbi(s, DB_MAIN);
    store_txn_t *t;
    store_cursor_t *cur;
    store_val_t k, v;

    ASSERT_OK(store_txn_begin(s, true, &t));
    s_put_str(t, db, "b", "1", 0);
    s_put_str(t, db, "bb", "2", 0);
    s_put_str(t, db, "d", "3", 0);
    ASSERT_OK(store_cursor_open(t, db, &cur));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rp_err rc = store_cursor_after(cur, cases[i].after, strlen(cases[i].after), &k, &v);
        if (!cases[i].want) {
            ASSERT_ERR(rc, RP_ENOTFOUND);
            continue;
        }
        ASSERT_OK(rc);
        ASSERT_EQ_MEM(k.data, k.len, cases[i].want, strlen(cases[i].want));
    }
    store_cursor_close(cur);
    store_txn_abort(t);
    store_close(&s);
}

/* store_page's take: takes even numbers, refuses odd ones, fails on 99. */
static rp_err s_take_even(void *ctx, const store_val_t *k, const store_val_t *v, bool *taken)
{
    uint64_t *seen = ctx, x = store_key_u64(v->len == 8 ? v->data : k->data);
    if (x == 99)
        return RP_ECORRUPT;
    seen[++seen[0]] = x;
    *taken = x % 2 == 0;
    return RP_OK;
}

/* store_page: pages of keys (limit, a filter, the scan bound, a prefix) and
 * of one key's values; `last` resumes each page where the previous ended. */
static void s_page(void)
{
    store_t *s = s_open("page", MIB);
    store_dbi_t db = store_dbi(s, DB_MAIN), dups = store_dbi(s, DB_DUPS);
    store_txn_t *t;
    store_page_spec_t sp = {0};
    store_page_t pg;
    uint64_t seen[64];
    uint8_t key[16], after[16], val[8];
    store_val_t dk = {8, key};

    ASSERT_OK(store_txn_begin(s, true, &t));
    for (uint64_t x = 1; x <= 10; x++) { /* keys (7, 1..10), values 1..10 */
        store_u64_key(7, key);
        store_u64_key(x, key + 8);
        store_u64_key(x, val);
        ASSERT_OK(store_put(t, db, key, 16, val, 8, 0));
        ASSERT_OK(store_put(t, dups, key, 8, val, 8, 0));
    }
    store_u64_key(8, key); /* another prefix */
    store_u64_key(1, key + 8);
    store_u64_key(77, val);
    ASSERT_OK(store_put(t, db, key, 16, val, 8, 0));
    ASSERT_OK(store_txn_commit(t));
    ASSERT_OK(store_txn_begin(s, false, &t));

    /* From the first key, 3 even ones: 2, 4, 6 taken; 7 follows. */
    sp.limit = 3;
    sp.take = s_take_even;
    sp.ctx = seen;
    seen[0] = 0;
    ASSERT_OK(store_page(t, db, &sp, &pg));
    ASSERT_EQ_U64(pg.taken, 3);
    ASSERT_TRUE(pg.more);
    ASSERT_EQ_U64(seen[0], 6);
    ASSERT_EQ_U64(pg.last_len, 16);
    ASSERT_EQ_U64(store_key_u64(pg.last + 8), 6);

    /* The next page, bounded to prefix 7: 8 and 10, and no more. */
    memcpy(after, pg.last, 16);
    sp.after = after;
    sp.after_len = 16;
    sp.prefix_len = 8;
    seen[0] = 0;
    ASSERT_OK(store_page(t, db, &sp, &pg));
    ASSERT_EQ_U64(pg.taken, 2);
    ASSERT_TRUE(!pg.more);
    ASSERT_EQ_U64(seen[0], 4); /* 7, 8, 9, 10: not (8, 1) */
    ASSERT_EQ_U64(seen[4], 10);

    /* Without the prefix the walk reaches (8, 1), and the scan bound ends
     * a page that took nothing. */
    sp.prefix_len = 0;
    store_u64_key(9, after + 8);
    sp.scan_max = 1;
    seen[0] = 0;
    ASSERT_OK(store_page(t, db, &sp, &pg));
    ASSERT_EQ_U64(pg.taken, 1);
    ASSERT_TRUE(pg.more);
    sp.scan_max = 0;
    memcpy(after, pg.last, 16);
    seen[0] = 0;
    ASSERT_OK(store_page(t, db, &sp, &pg));
    ASSERT_EQ_U64(seen[0], 1);
    ASSERT_EQ_U64(seen[1], 77); /* (8, 1)'s value */
    ASSERT_TRUE(!pg.more);

    /* One key's values after 5: 6, 8 taken, 10 follows. */
    store_u64_key(7, key);
    store_u64_key(5, val);
    sp.dup_key = &dk;
    sp.after = val;
    sp.after_len = 8;
    sp.limit = 2;
    seen[0] = 0;
    ASSERT_OK(store_page(t, dups, &sp, &pg));
    ASSERT_EQ_U64(pg.taken, 2);
    ASSERT_TRUE(pg.more);
    ASSERT_EQ_U64(seen[1], 6);
    ASSERT_EQ_U64(store_key_u64(pg.last), 8);
    sp.after_len = 0; /* from the first value */
    seen[0] = 0;
    ASSERT_OK(store_page(t, dups, &sp, &pg));
    ASSERT_EQ_U64(seen[1], 1);

    /* An error from take ends the page. */
    store_txn_abort(t);
    ASSERT_OK(store_txn_begin(s, true, &t));
    store_u64_key(99, val);
    ASSERT_OK(store_put(t, dups, key, 8, val, 8, 0));
    sp.after_len = 0;
    sp.limit = 100;
    seen[0] = 0;
    ASSERT_ERR(store_page(t, dups, &sp, &pg), RP_ECORRUPT);
    store_txn_abort(t);
    store_close(&s);
}

/* A second write transaction of the process is refused, not waited for
 * (LMDB's writer lock would wait on its own thread forever); reads go on
 * beside the open one, and it may begin again once that one has ended. */
static void s_second_write_refused(void)
{
    store_t *s = s_open("db", MIB);
    store_dbi_t db = store_dbi(s, DB_MAIN);
    store_txn_t *w, *w2, *r;

    ASSERT_OK(store_txn_begin(s, true, &w));
    s_put_str(w, db, "k", "1", 0);
    ASSERT_ERR(store_txn_begin(s, true, &w2), RP_EINTERNAL);
    ASSERT_TRUE(w2 == NULL);
    ASSERT_TRUE(strstr(store_last_error(s), "write transaction") != NULL);
    ASSERT_OK(store_txn_begin(s, false, &r));
    store_txn_abort(r);
    ASSERT_OK(store_txn_commit(w));
    ASSERT_OK(store_txn_begin(s, true, &w));
    store_txn_abort(w);
    ASSERT_OK(store_txn_begin(s, true, &w));
    s_expect(w, db, "k", "1");
    ASSERT_OK(store_txn_commit(w));
    store_close(&s);
}

static const test_case_t s_cases[] = {
    {"u64_keys", s_u64_keys},
    {"open_close", s_open_close},
    {"put_get_del", s_put_get_del},
    {"persists_across_reopen", s_persists_across_reopen},
    {"dupsort_cursors", s_dupsort_cursors},
    {"append", s_append},
    {"write_replays_after_map_full", s_write_replays_after_map_full},
    {"write_error_aborts", s_write_error_aborts},
    {"second_open_refused", s_second_open_refused},
    {"info", s_info},
    {"copy", s_copy},
    {"read_txn_reuse", s_read_txn_reuse},
    {"cursor_after", s_cursor_after},
    {"page", s_page},
    {"second_write_refused", s_second_write_refused},
};

TEST_MAIN(s_cases)
