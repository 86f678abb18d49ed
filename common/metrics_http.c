/* metrics_http: libmicrohttpd in external-epoll mode, one handler. */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#define CONN_LIMIT   32 /* scrapers are few; a flood is bounded */
#define CONN_TIMEOUT 10 /* seconds an idle connection is kept */

struct metrics_http {
    struct MHD_Daemon *d;
    metrics_http_fn fn;
    void *ctx;
};

static enum MHD_Result s_reply(struct MHD_Connection *conn, unsigned status, const char *type,
                               char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    enum MHD_Result ret;

    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_len, void **state)
{
    static const char text_plain[] = "text/plain; charset=utf-8";
    static char only_get[] = "only GET\n", not_found[] = "try /metrics\n",
                failed[] = "no metrics\n";
    metrics_http_t *h = cls;
    char *body = NULL;
    size_t len = 0;

    (void)version;
    (void)upload;
    if (!*state) { /* the headers: answer once the (empty) body is in */
        *state = h;
        return MHD_YES;
    }
    if (*upload_len) {
        *upload_len = 0; /* a body to a GET: ignored */
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return s_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text_plain, only_get,
                       sizeof(only_get) - 1, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics") != 0)
        return s_reply(conn, MHD_HTTP_NOT_FOUND, text_plain, not_found, sizeof(not_found) - 1,
                       MHD_RESPMEM_PERSISTENT);
    if (h->fn(h->ctx, &body, &len) != 0)
        return s_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text_plain, failed, sizeof(failed) - 1,
                       MHD_RESPMEM_PERSISTENT);
    return s_reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len,
                   MHD_RESPMEM_MUST_FREE);
}

/* "host:port", "[v6]:port" or ":port" into a sockaddr. */
static rp_err s_parse(const char *listen, struct sockaddr_storage *ss, char *errbuf, size_t errlen)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    char *end;
    unsigned long port;
    size_t hl;

    if (!colon || !colon[1])
        goto out_bad;
    port = strtoul(colon + 1, &end, 10);
    if (*end || port == 0 || port > 65535)
        goto out_bad;
    hl = (size_t)(colon - listen);
    if (hl >= sizeof(host))
        goto out_bad;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            goto out_bad;
        return RP_OK;
    }
    {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (hl == 0)
            a4->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            goto out_bad;
    }
    return RP_OK;

out_bad:
    snprintf(errbuf, errlen,
             "metrics_listen: expected ADDRESS:PORT (127.0.0.1:9101, [::1]:9101, :9101), got '%s'",
             listen);
    return RP_EINVAL;
}

rp_err metrics_http_new(const char *listen, metrics_http_fn fn, void *ctx,
                        metrics_http_t **ret_http, char *errbuf, size_t errlen)
{
    struct sockaddr_storage ss;
    metrics_http_t *h;
    unsigned flags = MHD_USE_EPOLL;
    rp_err rc = s_parse(listen, &ss, errbuf, errlen);

    if (rc != RP_OK)
        return rc;
    h = calloc(1, sizeof(*h));
    if (!h)
        return RP_ENOMEM;
    h->fn = fn;
    h->ctx = ctx;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, s_handle, h, MHD_OPTION_SOCK_ADDR, &ss,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT, MHD_OPTION_END);
    if (!h->d) {
        snprintf(errbuf, errlen, "metrics_listen: cannot listen on %s (in use?)", listen);
        free(h);
        return RP_EIO;
    }
    *ret_http = h;
    return RP_OK;
}

void metrics_http_destroy(metrics_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->d)
        MHD_stop_daemon((*self_p)->d);
    free(*self_p);
    *self_p = NULL;
}

int metrics_http_fd(const metrics_http_t *h)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

void metrics_http_run(metrics_http_t *h)
{
    MHD_run(h->d);
}
