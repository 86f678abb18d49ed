/* err: the one error vocabulary of rapport.
 *
 * RP_ERR_MAP lists every code once; the enum, rp_strerror(), rp_err_name()
 * and the wire status code are all generated from it so they cannot drift.
 * Foreign codes (MDB_*, zmq errno, protobuf-c) are translated at their
 * module boundary into these. */
#ifndef RAPPORT_ERR_H
#define RAPPORT_ERR_H

#include <stddef.h>

/* XX(name, text, grpc status code) */
#define RP_ERR_MAP(XX)                      \
    XX(OK, "success", 0)                    \
    XX(EINVAL, "invalid argument", 3)       \
    XX(ENOTFOUND, "not found", 5)           \
    XX(EEXIST, "already exists", 6)         \
    XX(EPERM, "permission denied", 7)       \
    XX(ENOSPC, "resource exhausted", 8)     \
    XX(ENOMEM, "out of memory", 8)          \
    XX(ETOOBIG, "message too large", 8)     \
    XX(EPRECOND, "failed precondition", 9)  \
    XX(EABORTED, "aborted", 10)             \
    XX(ERANGE, "out of range", 11)          \
    XX(EUNIMPL, "not implemented", 12)      \
    XX(EINTERNAL, "internal error", 13)     \
    XX(EIO, "input/output error", 13)       \
    XX(EMAPFULL, "store map full", 8)       \
    XX(ECORRUPT, "store corrupted", 15)     \
    XX(EPROTO, "malformed message", 3)      \
    XX(EUNAVAIL, "service unavailable", 14) \
    XX(ETIMEDOUT, "timed out", 4)           \
    XX(EUNAUTH, "unauthenticated", 16)      \
    XX(EADDRINUSE, "address in use", 14)    \
    XX(ECONFIG, "bad configuration", 3)

typedef enum {
#define XX(name, text, code) RP_##name,
    RP_ERR_MAP(XX)
#undef XX
        RP_ERR_COUNT
} rp_err;

/* Human text of an error code; never NULL ("unknown error" outside the
 * list). */
const char *rp_strerror(rp_err err);

/* Symbolic name without the RP_ prefix ("EINVAL"); never NULL. */
const char *rp_err_name(rp_err err);

/* gRPC canonical status code (rapport.v1.StatusCode) for an error. */
int rp_err_status_code(rp_err err);

/* Inverse of rp_err_status_code for codes that came over the wire. */
rp_err rp_err_from_status_code(int code);

/* printf into a caller's error buffer of errlen bytes (cut to fit); a NULL
 * buffer or a length of 0 takes nothing. */
void rp_errbuf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
