/* metrics_http: a worker's GET /metrics for Prometheus, served by
 * libmicrohttpd without a thread of its own.
 *
 * The daemon runs in the worker's loop: metrics_http_fd() is an epoll fd
 * that the loop polls next to its ZeroMQ sockets, and metrics_http_run()
 * serves what is ready. The page is made by the caller's function, called
 * in the loop's thread, so it reads the worker's state without locks (and
 * no ZeroMQ socket is touched from another thread). */
#ifndef RAPPORT_METRICS_HTTP_H
#define RAPPORT_METRICS_HTTP_H

#include <stddef.h>

#include "err.h"

typedef struct metrics_http metrics_http_t;

/* Fill *ret_text (malloc'd, the daemon frees it) and *ret_len with the
 * exposition text; return 0, or -1 for a 500 answer. */
typedef int (*metrics_http_fn)(void *ctx, char **ret_text, size_t *ret_len);

/* Listen on `listen` ("127.0.0.1:9101", "[::1]:9101" or ":9101" for every
 * address). Only GET (and HEAD) of /metrics is answered; other paths get
 * 404, other methods 405. RP_EINVAL for an address that does not parse
 * (errbuf says why), RP_EIO when the port cannot be bound. Owned by the
 * caller (metrics_http_destroy). */
rp_err metrics_http_new(const char *listen, metrics_http_fn fn, void *ctx,
                        metrics_http_t **ret_http, char *errbuf, size_t errlen);

/* Stop listening and free; accepts NULL, NULLs the pointer. */
void metrics_http_destroy(metrics_http_t **self_p);

/* The fd to poll for readability. */
int metrics_http_fd(const metrics_http_t *h);

/* Serve what is ready without blocking; also call it now and then for the
 * daemon's timeouts. */
void metrics_http_run(metrics_http_t *h);

#endif
