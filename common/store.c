/* store: LMDB env, DBIs, transactions, map growth.
 *
 * The only file that sees MDB_* codes. Each worker owns one env; a lock
 * file keeps a second process of the same worker out, because the design
 * has one writer per env. The write path replays the caller's function
 * after growing the map, so callers never handle MDB_MAP_FULL themselves. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define STORE_MAX_DBS 32

struct store {
    MDB_env *env;
    MDB_dbi dbis[STORE_MAX_DBS];
    size_t n_dbis;
    store_txn_t *read_txn; /* reset read txn kept for renewal */
    int lock_fd;
    uint64_t map_size;
    uint64_t stale_cleared;
    uint64_t last_commit_ns; /* of the last store_write commit */
    bool nometasync;         /* the env does not sync the meta page anyway */
    bool writing;            /* a write transaction of this process is open */
    char dir[CONFIG_PATH_MAX];
    char last_error[CONFIG_PATH_MAX + 256];
};

struct store_txn {
    MDB_txn *txn;
    store_t *store;
    bool write;
};

/* A store_cursor_t * is an MDB_cursor *; its store comes from the env. */
static store_t *s_txn_store(MDB_txn *txn)
{
    return mdb_env_get_userctx(mdb_txn_env(txn));
}

static rp_err s_map(store_t *s, int rc, const char *what)
{
    if (rc == MDB_SUCCESS)
        return RP_OK;
    if (s && rc != MDB_NOTFOUND)
        snprintf(s->last_error, sizeof(s->last_error), "%s: %s", what, mdb_strerror(rc));
    switch (rc) {
    case MDB_NOTFOUND:
        return RP_ENOTFOUND;
    case MDB_KEYEXIST:
        return RP_EEXIST;
    case MDB_MAP_FULL:
    case MDB_MAP_RESIZED:
        return RP_EMAPFULL;
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL:
    case MDB_PAGE_FULL:
        return RP_ETOOBIG;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return RP_ECORRUPT;
    case MDB_READERS_FULL:
    case MDB_DBS_FULL:
        return RP_ENOSPC;
    case MDB_BAD_VALSIZE:
    case EINVAL:
        return RP_EINVAL;
    case ENOSPC:
    case EFBIG:
    case EDQUOT:
        return RP_ENOSPC;
    case ENOMEM:
        return RP_ENOMEM;
    case EACCES:
    case EPERM:
        return RP_EPERM;
    default:
        return RP_EIO;
    }
}

static int s_mkdirs(const char *dir)
{
    char tmp[CONFIG_PATH_MAX];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, dir, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

rp_err store_open(const char *dir, const store_dbi_spec_t *specs, size_t n_specs, uint64_t map_size,
                  config_sync_t sync, store_t **ret_store, char *errbuf, size_t errlen)
{
    store_t *s;
    char lockpath[CONFIG_PATH_MAX + 16];
    unsigned flags = MDB_NOTLS;
    MDB_txn *txn = NULL;
    int dead = 0, rc;
    rp_err err;

    if (n_specs > STORE_MAX_DBS || strlen(dir) >= CONFIG_PATH_MAX)
        return RP_EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return RP_ENOMEM;
    s->lock_fd = -1;
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    if (s_mkdirs(dir) != 0) {
        snprintf(s->last_error, sizeof(s->last_error), "mkdir %s: %s", dir, strerror(errno));
        err = errno == EACCES ? RP_EPERM : RP_EIO;
        goto out_destroy;
    }
    snprintf(lockpath, sizeof(lockpath), "%s/worker.lock", dir);
    s->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (s->lock_fd < 0) {
        snprintf(s->last_error, sizeof(s->last_error), "%s: %s", lockpath, strerror(errno));
        err = RP_EIO;
        goto out_destroy;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(s->last_error, sizeof(s->last_error), "%s is in use by another process (%s)", dir,
                 strerror(errno));
        err = RP_EADDRINUSE;
        goto out_destroy;
    }
    rc = mdb_env_create(&s->env);
    if (rc) {
        err = s_map(s, rc, "mdb_env_create");
        goto out_destroy;
    }
    mdb_env_set_userctx(s->env, s);
    mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
    mdb_env_set_maxreaders(s->env, 126);
    if (sync == CONFIG_SYNC_NOMETA)
        flags |= MDB_NOMETASYNC;
    else if (sync == CONFIG_SYNC_NONE)
        flags |= MDB_NOSYNC;
    s->nometasync = sync != CONFIG_SYNC_FULL;
    rc = mdb_env_open(s->env, dir, flags, 0640);
    if (rc) {
        err = s_map(s, rc, "mdb_env_open");
        goto out_destroy;
    }
    /* The file may already be larger than the configured map. */
    {
        MDB_envinfo info;
        mdb_env_info(s->env, &info);
        s->map_size = info.me_mapsize > map_size ? info.me_mapsize : map_size;
        rc = mdb_env_set_mapsize(s->env, s->map_size);
        if (rc) {
            err = s_map(s, rc, "mdb_env_set_mapsize");
            goto out_destroy;
        }
    }
    rc = mdb_reader_check(s->env, &dead);
    if (rc) {
        err = s_map(s, rc, "mdb_reader_check");
        goto out_destroy;
    }
    s->stale_cleared = (uint64_t)dead;
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) {
        err = s_map(s, rc, "mdb_txn_begin");
        goto out_destroy;
    }
    for (size_t i = 0; i < n_specs; i++) {
        unsigned dflags = MDB_CREATE;
        if (specs[i].flags & STORE_DB_DUPSORT)
            dflags |= MDB_DUPSORT;
        if (specs[i].flags & STORE_DB_DUPFIXED)
            dflags |= MDB_DUPFIXED;
        rc = mdb_dbi_open(txn, specs[i].name, dflags, &s->dbis[i]);
        if (rc) {
            err = s_map(s, rc, specs[i].name);
            goto out_abort_txn;
        }
    }
    s->n_dbis = n_specs;
    rc = mdb_txn_commit(txn);
    if (rc) {
        err = s_map(s, rc, "mdb_txn_commit");
        goto out_destroy;
    }
    *ret_store = s;
    return RP_OK;

out_abort_txn:
    mdb_txn_abort(txn);
out_destroy:
    if (errbuf && errlen)
        snprintf(errbuf, errlen, "%s", s->last_error);
    store_close(&s);
    return err;
}

void store_close(store_t **self_p)
{
    store_t *s;

    if (!self_p || !*self_p)
        return;
    s = *self_p;
    if (s->read_txn) {
        mdb_txn_abort(s->read_txn->txn);
        free(s->read_txn);
    }
    if (s->env)
        mdb_env_close(s->env);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s);
    *self_p = NULL;
}

store_dbi_t store_dbi(const store_t *s, size_t i)
{
    return i < s->n_dbis ? s->dbis[i] : 0;
}

rp_err store_sync(store_t *s)
{
    return s_map(s, mdb_env_sync(s->env, 1), "mdb_env_sync");
}

uint64_t store_last_commit_ns(const store_t *s)
{
    return s->last_commit_ns;
}

const char *store_last_error(const store_t *s)
{
    return s ? s->last_error : "";
}

rp_err store_txn_begin(store_t *s, bool write, store_txn_t **ret_txn)
{
    store_txn_t *t = NULL;
    int rc;

    *ret_txn = NULL; /* a handle, so a failure path may always release it */
    if (!write && s->read_txn) {
        t = s->read_txn;
        s->read_txn = NULL;
        rc = mdb_txn_renew(t->txn);
        if (rc == MDB_SUCCESS) {
            *ret_txn = t;
            return RP_OK;
        }
        mdb_txn_abort(t->txn);
        free(t);
    }
    if (write && s->writing) {
        /* LMDB's writer lock is not recursive: this thread would wait on
         * itself forever. */
        snprintf(s->last_error, sizeof(s->last_error),
                 "%s: a write transaction of this process is open already", s->dir);
        return RP_EINTERNAL;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return RP_ENOMEM;
    t->store = s;
    t->write = write;
    rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    if (rc == MDB_MAP_RESIZED) {
        /* Another process grew the map: adopt its size and retry once. */
        mdb_env_set_mapsize(s->env, 0);
        rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    }
    if (rc) {
        free(t);
        return s_map(s, rc, "mdb_txn_begin");
    }
    if (write)
        s->writing = true;
    *ret_txn = t;
    return RP_OK;
}

/* LMDB reports a page write cut short as EIO (mdb_page_flush): when the
 * file has reached the file size limit or the file system is (nearly)
 * full, that is a full disk, which callers answer RESOURCE_EXHAUSTED. */
static bool s_no_room(store_t *s)
{
    const char *dir = NULL;
    char path[4096];
    struct stat st;
    struct statvfs vfs;
    struct rlimit lim;

    if (mdb_env_get_path(s->env, &dir) != MDB_SUCCESS || !dir)
        return false;
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        stat(path, &st) == 0 && (rlim_t)st.st_size >= lim.rlim_cur)
        return true;
    return statvfs(dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < (4u << 20);
}

rp_err store_txn_commit(store_txn_t *txn)
{
    store_t *s = txn->store;
    int rc;

    if (!txn->write) {
        store_txn_abort(txn);
        return RP_OK;
    }
    rc = mdb_txn_commit(txn->txn);
    s->writing = false;
    free(txn);
    if (rc == EIO && s_no_room(s))
        rc = ENOSPC;
    return s_map(s, rc, "mdb_txn_commit");
}

void store_txn_abort(store_txn_t *txn)
{
    store_t *s;

    if (!txn)
        return;
    s = txn->store;
    if (!txn->write && !s->read_txn) {
        mdb_txn_reset(txn->txn);
        s->read_txn = txn;
        return;
    }
    if (txn->write)
        s->writing = false;
    mdb_txn_abort(txn->txn);
    free(txn);
}

static rp_err s_grow(store_t *s)
{
    uint64_t next = s->map_size < (1ull << 30) ? s->map_size * 2 : s->map_size + (1ull << 30);
    int rc;

    if (s->read_txn) {
        mdb_txn_abort(s->read_txn->txn);
        free(s->read_txn);
        s->read_txn = NULL;
    }
    rc = mdb_env_set_mapsize(s->env, next);
    if (rc)
        return s_map(s, rc, "mdb_env_set_mapsize");
    log_debug("store %s: map grown to %llu bytes", s->dir, (unsigned long long)next);
    s->map_size = next;
    return RP_OK;
}

rp_err store_grow(store_t *s)
{
    return s_grow(s);
}

rp_err store_write(store_t *s, store_write_fn fn, void *ctx, unsigned *ret_attempts)
{
    return store_write_flags(s, fn, ctx, 0, ret_attempts);
}

rp_err store_write_flags(store_t *s, store_write_fn fn, void *ctx, unsigned flags,
                         unsigned *ret_attempts)
{
    unsigned attempts = 0;
    rp_err rc;

    for (;;) {
        store_txn_t *txn = NULL;
        attempts++;
        rc = store_txn_begin(s, true, &txn);
        if (rc != RP_OK)
            break;
        rc = fn(txn, ctx);
        if (rc == RP_OK) {
            uint64_t t0 = clock_mono_ns();
            /* Only an env that syncs fully changes for this commit. */
            bool relax = (flags & STORE_WRITE_NOMETASYNC) && !s->nometasync;
            if (relax)
                mdb_env_set_flags(s->env, MDB_NOMETASYNC, 1);
            rc = store_txn_commit(txn);
            if (relax)
                mdb_env_set_flags(s->env, MDB_NOMETASYNC, 0);
            s->last_commit_ns = clock_mono_ns() - t0;
        } else {
            store_txn_abort(txn);
        }
        if (rc != RP_EMAPFULL || attempts >= 40)
            break;
        rc = s_grow(s);
        if (rc != RP_OK)
            break;
    }
    if (ret_attempts)
        *ret_attempts = attempts;
    return rc;
}

rp_err store_get(store_txn_t *txn, store_dbi_t dbi, const void *key, size_t klen,
                 store_val_t *ret_val)
{
    MDB_val k = {klen, (void *)(uintptr_t)key}, v;
    int rc;

    /* No empty key can be stored (LMDB answers MDB_BAD_VALSIZE, a store
     * error): a lookup of a blank number from a request is not found. */
    if (klen == 0)
        return RP_ENOTFOUND;
    rc = mdb_get(txn->txn, dbi, &k, &v);
    if (rc)
        return s_map(txn->store, rc, "mdb_get");
    ret_val->len = v.mv_size;
    ret_val->data = v.mv_data;
    return RP_OK;
}

static unsigned s_put_flags(unsigned flags)
{
    unsigned f = 0;
    if (flags & STORE_PUT_APPEND)
        f |= MDB_APPEND;
    if (flags & STORE_PUT_NOOVERWRITE)
        f |= MDB_NOOVERWRITE;
    if (flags & STORE_PUT_APPENDDUP)
        f |= MDB_APPENDDUP;
    if (flags & STORE_PUT_NODUPDATA)
        f |= MDB_NODUPDATA;
    if (flags & STORE_PUT_CURRENT)
        f |= MDB_CURRENT;
    return f;
}

rp_err store_put(store_txn_t *txn, store_dbi_t dbi, const void *key, size_t klen, const void *val,
                 size_t vlen, unsigned flags)
{
    MDB_val k = {klen, (void *)(uintptr_t)key}, v = {vlen, (void *)(uintptr_t)val};
    int rc = mdb_put(txn->txn, dbi, &k, &v, s_put_flags(flags));
    return s_map(txn->store, rc, "mdb_put");
}

rp_err store_reserve(store_txn_t *txn, store_dbi_t dbi, const void *key, size_t klen, size_t vlen,
                     unsigned flags, void **ret_ptr)
{
    MDB_val k = {klen, (void *)(uintptr_t)key}, v = {vlen, NULL};
    int rc = mdb_put(txn->txn, dbi, &k, &v, s_put_flags(flags) | MDB_RESERVE);
    if (rc)
        return s_map(txn->store, rc, "mdb_put reserve");
    *ret_ptr = v.mv_data;
    return RP_OK;
}

rp_err store_del(store_txn_t *txn, store_dbi_t dbi, const void *key, size_t klen, const void *val,
                 size_t vlen)
{
    MDB_val k = {klen, (void *)(uintptr_t)key}, v = {vlen, (void *)(uintptr_t)val};
    int rc = mdb_del(txn->txn, dbi, &k, val ? &v : NULL);
    return s_map(txn->store, rc, "mdb_del");
}

rp_err store_drop(store_txn_t *txn, store_dbi_t dbi)
{
    int rc = mdb_drop(txn->txn, dbi, 0);
    return s_map(txn->store, rc, "mdb_drop");
}

rp_err store_count(store_txn_t *txn, store_dbi_t dbi, uint64_t *ret_count)
{
    MDB_stat st;
    int rc = mdb_stat(txn->txn, dbi, &st);
    if (rc)
        return s_map(txn->store, rc, "mdb_stat");
    *ret_count = st.ms_entries;
    return RP_OK;
}

rp_err store_cursor_open(store_txn_t *txn, store_dbi_t dbi, store_cursor_t **ret_cur)
{
    MDB_cursor *c;
    int rc;

    *ret_cur = NULL; /* a handle, so a failure path may always close it */
    rc = mdb_cursor_open(txn->txn, dbi, &c);
    if (rc)
        return s_map(txn->store, rc, "mdb_cursor_open");
    *ret_cur = (store_cursor_t *)c;
    return RP_OK;
}

void store_cursor_close(store_cursor_t *cur)
{
    if (cur)
        mdb_cursor_close((MDB_cursor *)cur);
}

rp_err store_cursor_get(store_cursor_t *cur, store_op_t op, store_val_t *key, store_val_t *val)
{
    static const MDB_cursor_op ops[] = {
        [STORE_FIRST] = MDB_FIRST,
        [STORE_LAST] = MDB_LAST,
        [STORE_NEXT] = MDB_NEXT,
        [STORE_PREV] = MDB_PREV,
        [STORE_SET] = MDB_SET_KEY,
        [STORE_SET_RANGE] = MDB_SET_RANGE,
        [STORE_GET_BOTH] = MDB_GET_BOTH,
        [STORE_GET_BOTH_RANGE] = MDB_GET_BOTH_RANGE,
        [STORE_GET_CURRENT] = MDB_GET_CURRENT,
        [STORE_FIRST_DUP] = MDB_FIRST_DUP,
        [STORE_LAST_DUP] = MDB_LAST_DUP,
        [STORE_NEXT_DUP] = MDB_NEXT_DUP,
        [STORE_PREV_DUP] = MDB_PREV_DUP,
        [STORE_NEXT_NODUP] = MDB_NEXT_NODUP,
        [STORE_PREV_NODUP] = MDB_PREV_NODUP,
    };
    MDB_cursor *c = (MDB_cursor *)cur;
    store_val_t dummy_k = {0, NULL}, dummy_v = {0, NULL};
    int rc;

    if (!key)
        key = &dummy_k;
    if (!val)
        val = &dummy_v;
    /* store_val_t has MDB_val's layout. */
    rc = mdb_cursor_get(c, (MDB_val *)key, (MDB_val *)val, ops[op]);
    if (rc)
        return s_map(s_txn_store(mdb_cursor_txn(c)), rc, "mdb_cursor_get");
    return RP_OK;
}

rp_err store_cursor_after(store_cursor_t *cur, const void *after, size_t alen, store_val_t *key,
                          store_val_t *val)
{
    rp_err rc;

    if (alen == 0)
        return store_cursor_get(cur, STORE_FIRST, key, val);
    key->data = (void *)(uintptr_t)after;
    key->len = alen;
    rc = store_cursor_get(cur, STORE_SET_RANGE, key, val);
    if (rc == RP_OK && key->len == alen && memcmp(key->data, after, alen) == 0)
        rc = store_cursor_get(cur, STORE_NEXT, key, val);
    return rc;
}

/* The first item of a page: the first value of dup_key after `after`. */
static rp_err s_page_first_dup(store_cursor_t *cur, const store_page_spec_t *sp, store_val_t *k,
                               store_val_t *v)
{
    rp_err rc;

    *k = *sp->dup_key;
    if (sp->after_len == 0)
        return store_cursor_get(cur, STORE_SET, k, v);
    v->data = (void *)(uintptr_t)sp->after;
    v->len = sp->after_len;
    rc = store_cursor_get(cur, STORE_GET_BOTH_RANGE, k, v);
    if (rc == RP_OK && v->len == sp->after_len && memcmp(v->data, sp->after, v->len) == 0)
        rc = store_cursor_get(cur, STORE_NEXT_DUP, k, v);
    return rc;
}

rp_err store_page(store_txn_t *txn, store_dbi_t dbi, const store_page_spec_t *sp, store_page_t *pg)
{
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    size_t examined = 0;
    rp_err rc = store_cursor_open(txn, dbi, &cur);

    memset(pg, 0, sizeof(*pg));
    if (rc != RP_OK)
        return rc;
    rc = sp->dup_key ? s_page_first_dup(cur, sp, &k, &v)
                     : store_cursor_after(cur, sp->after, sp->after_len, &k, &v);
    while (rc == RP_OK) {
        const store_val_t *item = sp->dup_key ? &v : &k;
        bool taken = false;

        if (sp->prefix_len && (k.len < sp->prefix_len || sp->after_len < sp->prefix_len ||
                               memcmp(k.data, sp->after, sp->prefix_len) != 0))
            break;
        if (pg->taken == sp->limit || (sp->scan_max && examined == sp->scan_max)) {
            pg->more = true;
            break;
        }
        if (item->len > sizeof(pg->last)) {
            rc = RP_ECORRUPT;
            break;
        }
        rc = sp->take(sp->ctx, &k, &v, &taken);
        if (rc != RP_OK)
            break;
        examined++;
        pg->taken += taken;
        memcpy(pg->last, item->data, item->len);
        pg->last_len = item->len;
        rc = store_cursor_get(cur, sp->dup_key ? STORE_NEXT_DUP : STORE_NEXT, &k, &v);
    }
    store_cursor_close(cur);
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

rp_err store_cursor_put(store_cursor_t *cur, const store_val_t *key, const store_val_t *val,
                        unsigned flags)
{
    MDB_cursor *c = (MDB_cursor *)cur;
    MDB_val k = {key->len, key->data}, v = {val->len, val->data};
    int rc = mdb_cursor_put(c, &k, &v, s_put_flags(flags));
    return s_map(s_txn_store(mdb_cursor_txn(c)), rc, "mdb_cursor_put");
}

rp_err store_cursor_del(store_cursor_t *cur, bool all_dups)
{
    MDB_cursor *c = (MDB_cursor *)cur;
    int rc = mdb_cursor_del(c, all_dups ? MDB_NODUPDATA : 0);
    return s_map(s_txn_store(mdb_cursor_txn(c)), rc, "mdb_cursor_del");
}

rp_err store_info(store_t *s, store_info_t *ret_info)
{
    MDB_envinfo info;
    MDB_stat st;
    char path[CONFIG_PATH_MAX + 16];
    struct stat sb;
    int rc;

    rc = mdb_env_info(s->env, &info);
    if (rc)
        return s_map(s, rc, "mdb_env_info");
    rc = mdb_env_stat(s->env, &st);
    if (rc)
        return s_map(s, rc, "mdb_env_stat");
    memset(ret_info, 0, sizeof(*ret_info));
    ret_info->map_size = info.me_mapsize;
    ret_info->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    ret_info->max_readers = info.me_maxreaders;
    ret_info->readers_used = info.me_numreaders;
    ret_info->stale_readers_cleared = s->stale_cleared;
    snprintf(path, sizeof(path), "%s/data.mdb", s->dir);
    if (stat(path, &sb) == 0)
        ret_info->file_bytes = (uint64_t)sb.st_size;
    return RP_OK;
}

rp_err store_copy(store_t *s, const char *dir)
{
    int rc;
    if (s_mkdirs(dir) != 0)
        return RP_EIO;
    rc = mdb_env_copy2(s->env, dir, MDB_CP_COMPACT);
    return s_map(s, rc, "mdb_env_copy2");
}

/* ---- backup ------------------------------------------------------------- */

/* fsync a file or a directory by path. */
static int s_fsync_path(const char *path, bool dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

rp_err store_backup(const char *src_dir, const char *dst_dir, store_backup_info_t *ret_info,
                    char *errbuf, size_t errlen)
{
    char src_data[CONFIG_PATH_MAX + 16], dst_data[CONFIG_PATH_MAX + 16];
    store_backup_info_t info;
    MDB_env *env = NULL;
    MDB_envinfo ei;
    struct stat sb;
    int rc = MDB_SUCCESS;
    rp_err err;

    if (strlen(src_dir) >= CONFIG_PATH_MAX || strlen(dst_dir) >= CONFIG_PATH_MAX)
        return RP_EINVAL;
    memset(&info, 0, sizeof(info));
    snprintf(src_data, sizeof(src_data), "%s/data.mdb", src_dir);
    snprintf(dst_data, sizeof(dst_data), "%s/data.mdb", dst_dir);
    if (stat(src_data, &sb) != 0) {
        int e = errno;
        rp_errbuf(errbuf, errlen, "%s: %s", src_data, strerror(e));
        return e == ENOENT ? RP_ENOTFOUND : e == EACCES ? RP_EPERM : RP_EIO;
    }
    info.source_bytes = (uint64_t)sb.st_size;
    if (s_mkdirs(dst_dir) != 0) {
        int e = errno;
        rp_errbuf(errbuf, errlen, "mkdir %s: %s", dst_dir, strerror(e));
        return e == EACCES ? RP_EPERM : RP_EIO;
    }
    if (lstat(dst_data, &sb) == 0) {
        rp_errbuf(errbuf, errlen, "%s already exists", dst_data);
        return RP_EEXIST;
    }

    /* Read-only, with the ordinary lock file: our read transaction takes a
     * slot in the reader table, so the worker does not reuse the pages it
     * copies. worker.lock is the worker's own and stays untouched. */
    rc = mdb_env_create(&env);
    if (rc)
        goto out_mdb_error;
    mdb_env_set_maxdbs(env, STORE_MAX_DBS);
    /* 0: adopt the map size recorded by the worker. */
    mdb_env_set_mapsize(env, 0);
    rc = mdb_env_open(env, src_dir, MDB_RDONLY | MDB_NOTLS, 0640);
    if (rc)
        goto out_mdb_error;
    /* A backup killed earlier left its reader slot behind, and the worker
     * checks the slots only at start-up: clear those of dead processes so
     * the writer can reuse pages again. */
    mdb_reader_check(env, NULL);
    for (int attempt = 0; attempt < 5; attempt++) {
        rc = mdb_env_copy2(env, dst_dir, MDB_CP_COMPACT);
        if (rc != MDB_MAP_RESIZED)
            break;
        /* The worker grew its map while we opened: adopt and start over. */
        unlink(dst_data);
        mdb_env_set_mapsize(env, 0);
    }
    if (rc) {
        unlink(dst_data);
        goto out_mdb_error;
    }
    if (mdb_env_info(env, &ei) == MDB_SUCCESS)
        info.map_size = ei.me_mapsize;
    mdb_env_close(env);
    env = NULL;

    if (chmod(dst_data, 0640) != 0 || s_fsync_path(dst_data, false) != 0 ||
        s_fsync_path(dst_dir, true) != 0 || stat(dst_data, &sb) != 0) {
        int e = errno;
        rp_errbuf(errbuf, errlen, "%s: %s", dst_data, strerror(e));
        return e == ENOSPC ? RP_ENOSPC : RP_EIO;
    }
    info.copy_bytes = (uint64_t)sb.st_size;
    if (ret_info)
        *ret_info = info;
    return RP_OK;

out_mdb_error:
    err = s_map(NULL, rc, "");
    if (errbuf && errlen) {
        if (rc == EACCES || rc == EPERM)
            snprintf(errbuf, errlen,
                     "%s: %s (reading a live env needs write access to its lock.mdb: run "
                     "as the workers' user or root)",
                     src_dir, mdb_strerror(rc));
        else
            snprintf(errbuf, errlen, "%s: %s", src_dir, mdb_strerror(rc));
    }
    if (env)
        mdb_env_close(env);
    return err;
}

rp_err store_backup_counters(const char *dir, const char *dbi_name, const char *const *keys,
                             size_t n, uint64_t *ret_values, char *errbuf, size_t errlen)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    uint64_t values[16];
    int rc;
    rp_err err = RP_OK;

    if (n > sizeof(values) / sizeof(values[0]))
        return RP_EINVAL;
    memset(values, 0, sizeof(values));
    rc = mdb_env_create(&env);
    if (rc)
        goto out_mdb_error;
    mdb_env_set_maxdbs(env, STORE_MAX_DBS);
    mdb_env_set_mapsize(env, 0);
    /* No process writes a backup: no lock file needed (none is left in
     * the backup directory). */
    rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0640);
    if (rc)
        goto out_mdb_error;
    rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc)
        goto out_mdb_error;
    rc = mdb_dbi_open(txn, dbi_name, 0, &dbi);
    if (rc == MDB_NOTFOUND) /* an env that never counted: all 0 */
        goto out_done;
    if (rc)
        goto out_mdb_error;
    for (size_t i = 0; i < n; i++) {
        MDB_val k = {strlen(keys[i]), (void *)(uintptr_t)keys[i]}, v;
        rc = mdb_get(txn, dbi, &k, &v);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc)
            goto out_mdb_error;
        if (v.mv_size != 8) {
            rp_errbuf(errbuf, errlen, "%s: %s is not a counter", dir, keys[i]);
            err = RP_ECORRUPT;
            goto out_close;
        }
        values[i] = store_key_u64(v.mv_data);
    }
out_done:
    memcpy(ret_values, values, n * sizeof(values[0]));
    goto out_close;

out_mdb_error:
    err = s_map(NULL, rc, "");
    rp_errbuf(errbuf, errlen, "%s: %s", dir, mdb_strerror(rc));
out_close:
    if (txn)
        mdb_txn_abort(txn);
    if (env)
        mdb_env_close(env);
    return err;
}
