/* store: the LMDB env of one worker.
 *
 * One env per worker directory with named DBIs, opened once at start-up
 * with a stale-reader check. Writes go through store_write(), which runs a
 * caller function in a write transaction and, on MDB_MAP_FULL from a put or
 * from the commit, aborts, grows the map and runs the function again: the
 * function must therefore keep every effect inside the transaction until it
 * returns. store.c alone sees MDB_* codes; callers see rp_err. */
#ifndef RAPPORT_STORE_H
#define RAPPORT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

typedef struct store store_t;
typedef struct store_txn store_txn_t;
typedef struct store_cursor store_cursor_t;
typedef unsigned int store_dbi_t;

/* Same layout as MDB_val. */
typedef struct {
    size_t len;
    void *data;
} store_val_t;

enum {
    STORE_DB_DUPSORT = 1 << 0,  /* several values per key, sorted */
    STORE_DB_DUPFIXED = 1 << 1, /* with DUPSORT: all values the same size */
};

typedef struct {
    const char *name;
    unsigned flags;
} store_dbi_spec_t;

enum {
    STORE_PUT_APPEND = 1 << 0,      /* key is > every key (fast path) */
    STORE_PUT_NOOVERWRITE = 1 << 1, /* RP_EEXIST if the key exists */
    STORE_PUT_APPENDDUP = 1 << 2,   /* DUPSORT: value is > every value of the key */
    STORE_PUT_NODUPDATA = 1 << 3,   /* DUPSORT: RP_EEXIST if the pair exists */
    STORE_PUT_CURRENT = 1 << 4,     /* cursor put: replace the current item */
};

typedef enum {
    STORE_FIRST,
    STORE_LAST,
    STORE_NEXT,
    STORE_PREV,
    STORE_SET,       /* exact key */
    STORE_SET_RANGE, /* first key >= key */
    STORE_GET_BOTH,  /* DUPSORT: exact key and value */
    STORE_GET_BOTH_RANGE,
    STORE_GET_CURRENT,
    STORE_FIRST_DUP,
    STORE_LAST_DUP,
    STORE_NEXT_DUP,
    STORE_PREV_DUP,
    STORE_NEXT_NODUP,
    STORE_PREV_NODUP,
} store_op_t;

typedef struct {
    uint64_t map_size;   /* bytes mapped */
    uint64_t used_bytes; /* pages in use * page size */
    uint64_t file_bytes; /* data.mdb size on disk */
    uint64_t max_readers;
    uint64_t readers_used;
    uint64_t stale_readers_cleared; /* at open */
} store_info_t;

/* Open (creating if needed) the env in `dir` with the given DBIs. The
 * directory is created; the env is locked against a second worker process
 * (RP_EADDRINUSE). RP_EIO / RP_ECORRUPT when the store is unreadable; errbuf
 * then says why. On success *ret_store is owned by the caller (store_close). */
rp_err store_open(const char *dir, const store_dbi_spec_t *specs, size_t n_specs, uint64_t map_size,
                  config_sync_t sync, store_t **ret_store, char *errbuf, size_t errlen);

/* Close the env; accepts NULL and NULLs the caller's pointer. */
void store_close(store_t **self_p);

/* DBI handle of specs[i] as given to store_open. */
store_dbi_t store_dbi(const store_t *s, size_t i);

/* Human text of the last LMDB error seen by this store (for logs). */
const char *store_last_error(const store_t *s);

/* Begin a transaction. A read transaction is cheap (a cached handle is
 * renewed). RP_EIO, RP_EMAPFULL (resized by another process: retry).
 * *ret_txn is NULL on failure (store_txn_abort accepts NULL), so a caller
 * may release it on every path. */
rp_err store_txn_begin(store_t *s, bool write, store_txn_t **ret_txn);

/* Commit; the txn is gone whatever the result. RP_EMAPFULL, RP_ENOSPC
 * (disk full or file size limit), RP_EIO. */
rp_err store_txn_commit(store_txn_t *txn);

/* Abort (or end a read txn); NULL is fine. */
void store_txn_abort(store_txn_t *txn);

typedef rp_err (*store_write_fn)(store_txn_t *txn, void *ctx);

/* Run fn in a write transaction and commit. On RP_EMAPFULL from fn or from
 * the commit, abort, grow the map and run fn again. Any other error from fn
 * aborts and is returned. *ret_attempts (may be NULL) says how many runs it
 * took. */
rp_err store_write(store_t *s, store_write_fn fn, void *ctx, unsigned *ret_attempts);

/* Grow the map as store_write does on RP_EMAPFULL, for a caller that holds
 * its own write transaction (aborted first: no transaction of this process
 * may be open). */
rp_err store_grow(store_t *s);

enum {
    /* Commit without syncing the meta page (MDB_NOMETASYNC) when the env
     * syncs fully: the data pages are synced, and a power failure can undo
     * this transaction but not corrupt the env; the next full commit makes
     * it durable. For work that is redone after a crash anyway. */
    STORE_WRITE_NOMETASYNC = 1 << 0,
};

/* store_write with STORE_WRITE_* flags. */
rp_err store_write_flags(store_t *s, store_write_fn fn, void *ctx, unsigned flags,
                         unsigned *ret_attempts);

/* Flush everything committed so far to disk (after commits with
 * STORE_WRITE_NOMETASYNC). RP_EIO, RP_ENOSPC. */
rp_err store_sync(store_t *s);

/* How long the last store_write commit took (write + fsync), in ns. */
uint64_t store_last_commit_ns(const store_t *s);

/* Point lookup. RP_ENOTFOUND. The value stays valid until the txn ends or
 * the next write in it. */
rp_err store_get(store_txn_t *txn, store_dbi_t dbi, const void *key, size_t klen,
                 store_val_t *ret_val);

rp_err store_put(store_txn_t *txn, store_dbi_t dbi, const void *key, size_t klen, const void *val,
                 size_t vlen, unsigned flags);

/* Reserve vlen bytes for key's value and return where to write them. */
rp_err store_reserve(store_txn_t *txn, store_dbi_t dbi, const void *key, size_t klen, size_t vlen,
                     unsigned flags, void **ret_ptr);

/* Delete key (val NULL: all of its values) or one key/value pair.
 * RP_ENOTFOUND. */
rp_err store_del(store_txn_t *txn, store_dbi_t dbi, const void *key, size_t klen, const void *val,
                 size_t vlen);

/* Delete every key of a DBI (keeps the DBI). */
rp_err store_drop(store_txn_t *txn, store_dbi_t dbi);

/* Number of items in a DBI. */
rp_err store_count(store_txn_t *txn, store_dbi_t dbi, uint64_t *ret_count);

/* Open a cursor on a DBI; *ret_cur is NULL on failure (store_cursor_close
 * accepts NULL). RP_EIO. */
rp_err store_cursor_open(store_txn_t *txn, store_dbi_t dbi, store_cursor_t **ret_cur);
void store_cursor_close(store_cursor_t *cur);

/* Position the cursor; key and val are in/out as for mdb_cursor_get.
 * RP_ENOTFOUND at the end. */
rp_err store_cursor_get(store_cursor_t *cur, store_op_t op, store_val_t *key, store_val_t *val);
/* Position the cursor on the first key strictly after `after` (the first
 * key when alen is 0), the start of a page that follows `after`. */
rp_err store_cursor_after(store_cursor_t *cur, const void *after, size_t alen, store_val_t *key,
                          store_val_t *val);

/* ---- pages ----
 * A list command answers one page at a time: the keys after the last one
 * of the previous page. store_page walks a DBI in key order (or one key's
 * values, in a DUPSORT DBI) and hands each item to `take`, which says
 * whether the page takes it (a filter may refuse). */
typedef rp_err (*store_take_fn)(void *ctx, const store_val_t *key, const store_val_t *val,
                                bool *ret_taken);

#define STORE_PAGE_KEY_MAX 511 /* LMDB's default key size bound */

typedef struct {
    const void *after;          /* start after this key (value, with dup_key) */
    size_t after_len;           /* 0: from the first */
    size_t prefix_len;          /* stop at the first key that differs from `after` in
                                 * its first prefix_len bytes (0: no bound) */
    const store_val_t *dup_key; /* walk this key's values instead of the keys */
    size_t limit;               /* items a page takes at most (> 0) */
    size_t scan_max;            /* items a page examines at most (0: no bound) */
    store_take_fn take;
    void *ctx;
} store_page_spec_t;

typedef struct {
    size_t taken; /* items `take` took */
    bool more;    /* the page ended at limit or scan_max, and items follow */
    /* The last item examined (its value, with dup_key): the next page's
     * `after` when `more`. */
    uint8_t last[STORE_PAGE_KEY_MAX];
    size_t last_len;
} store_page_t;

/* One page; an error from `take` ends it and is returned. */
rp_err store_page(store_txn_t *txn, store_dbi_t dbi, const store_page_spec_t *spec,
                  store_page_t *ret_page);
rp_err store_cursor_put(store_cursor_t *cur, const store_val_t *key, const store_val_t *val,
                        unsigned flags);
/* Delete the current item (all_dups: every value of its key). */
rp_err store_cursor_del(store_cursor_t *cur, bool all_dups);

/* Sizes and reader slots, for metrics. */
rp_err store_info(store_t *s, store_info_t *ret_info);

/* Consistent compacted copy of the env into an empty directory, while the
 * store keeps serving. */
rp_err store_copy(store_t *s, const char *dir);

/* What store_backup copied. */
typedef struct {
    uint64_t source_bytes; /* the source's data.mdb when the copy began */
    uint64_t copy_bytes;   /* the copy's data.mdb */
    uint64_t map_size;     /* the source's map size, kept by the copy */
} store_backup_info_t;

/* Compacted, consistent copy of the env in src_dir (data.mdb, as written by
 * another process, e.g. a running worker) into dst_dir/data.mdb, made from
 * one read transaction: the worker keeps serving and committing meanwhile.
 * The env is opened read-only in this process; worker.lock is not taken.
 * Reader slots left by dead processes (an earlier backup that was killed)
 * are cleared, as the worker does at start-up.
 * Opening it needs write access to src_dir/lock.mdb (the reader table), so
 * run as the workers' user or root. Must not be called for an env this
 * process has open (LMDB forbids two opens of one env in a process).
 * dst_dir is created (0750) and must not hold a data.mdb; the copy is 0640
 * and fsynced. RP_ENOTFOUND (no data.mdb in src_dir), RP_EEXIST,
 * RP_EPERM, RP_ENOSPC, RP_ECORRUPT, RP_EIO; errbuf says why. */
rp_err store_backup(const char *src_dir, const char *dst_dir, store_backup_info_t *ret_info,
                    char *errbuf, size_t errlen);

/* Read the 8-byte big-endian values of `keys` in DBI `dbi_name` of a
 * backup copy made by store_backup, for its manifest: read-only and
 * without a lock file, so only for an env no process writes. A missing
 * DBI or key reads as 0. ret_values[n]. RP_ENOTFOUND (no env in dir),
 * RP_ECORRUPT (a value is not 8 bytes), RP_EIO. */
rp_err store_backup_counters(const char *dir, const char *dbi_name, const char *const *keys,
                             size_t n, uint64_t *ret_values, char *errbuf, size_t errlen);

/* Big-endian u64 keys (gapless counters sort by memcmp). */
static inline void store_u64_key(uint64_t v, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)(v & 0xFF);
        v >>= 8;
    }
}

static inline uint64_t store_key_u64(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

#endif
