/* reach: is a worker there at all? rapport_client_probe() asks before a
 * request is sent, so that a command meets a stopped worker in well under
 * a second instead of waiting its whole timeout for an answer that cannot
 * come.
 *
 * An ipc endpoint is a socket file: missing, or present with nobody
 * accepting on it (a worker that died), means the worker is not running.
 * A tcp endpoint that refuses the connection likewise. Anything else (a
 * listener that accepts, a tcp host that does not answer within the
 * probe's second, a permission problem) is left to the request itself, so a
 * worker that is up but slow still gets the full timeout. */
#include "lib.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define PROBE_TCP_MS 1000

/* Connect without blocking; 0 when something accepts (or may: still in
 * progress after PROBE_TCP_MS), else the errno. */
static int s_try_connect(int domain, const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0;

    if (fd < 0)
        return 0; /* cannot tell: let the request decide */
    if (connect(fd, sa, len) != 0) {
        err = errno;
        if (err == EINPROGRESS || err == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            socklen_t elen = sizeof(err);
            err = 0;
            if (poll(&p, 1, PROBE_TCP_MS) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
                err = 0;
        }
    }
    close(fd);
    return err;
}

static bool s_ipc(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    int err;

    if (stat(path, &st) != 0)
        return errno != ENOENT;
    if (strlen(path) >= sizeof(sa.sun_path))
        return true;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    err = s_try_connect(AF_UNIX, (const struct sockaddr *)&sa, sizeof(sa));
    return err != ECONNREFUSED && err != ENOENT;
}

static bool s_tcp(const char *hostport)
{
    char host[256], *colon;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    bool out = true;

    if (snprintf(host, sizeof(host), "%s", hostport) >= (int)sizeof(host))
        return true;
    colon = strrchr(host, ':');
    if (!colon)
        return true;
    *colon = '\0';
    if (host[0] == '[' && colon > host && colon[-1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
        return true;
    if (s_try_connect(res->ai_family, res->ai_addr, res->ai_addrlen) == ECONNREFUSED)
        out = false;
    freeaddrinfo(res);
    return out;
}

bool lib_reach(const char *endpoint)
{
    if (strncmp(endpoint, "ipc://", 6) == 0)
        return s_ipc(endpoint + 6);
    if (strncmp(endpoint, "tcp://", 6) == 0)
        return s_tcp(endpoint + 6);
    return true;
}
