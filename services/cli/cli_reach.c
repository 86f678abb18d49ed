/* cli_reach: is a worker there at all? Checked before a request is sent,
 * so that a command meets a stopped worker in well under a second instead
 * of waiting its whole timeout for an answer that cannot come.
 *
 * An ipc endpoint is a socket file: missing, or present with nobody
 * accepting on it (a worker that died), means the worker is not running.
 * A tcp endpoint that refuses the connection likewise. Anything else (a
 * listener that accepts, a tcp host that does not answer within the
 * probe's second, a permission problem) is left to the request itself, so a
 * worker that is up but slow still gets the full timeout.
 *
 * This file knows nothing of the CLI's context: it takes an endpoint and
 * answers, so that it can move with the client code into a library. */
#include "cli.h"

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

static cli_reach_t s_ipc(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    int err;

    if (stat(path, &st) != 0)
        return errno == ENOENT ? CLI_REACH_DOWN : CLI_REACH_UNKNOWN;
    if (strlen(path) >= sizeof(sa.sun_path))
        return CLI_REACH_UNKNOWN;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    err = s_try_connect(AF_UNIX, (const struct sockaddr *)&sa, sizeof(sa));
    return err == ECONNREFUSED || err == ENOENT ? CLI_REACH_DOWN : CLI_REACH_UNKNOWN;
}

static cli_reach_t s_tcp(const char *hostport)
{
    char host[256], *colon;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    cli_reach_t out = CLI_REACH_UNKNOWN;

    if (snprintf(host, sizeof(host), "%s", hostport) >= (int)sizeof(host))
        return CLI_REACH_UNKNOWN;
    colon = strrchr(host, ':');
    if (!colon)
        return CLI_REACH_UNKNOWN;
    *colon = '\0';
    if (host[0] == '[' && colon > host && colon[-1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
        return CLI_REACH_UNKNOWN;
    if (s_try_connect(res->ai_family, res->ai_addr, res->ai_addrlen) == ECONNREFUSED)
        out = CLI_REACH_DOWN;
    freeaddrinfo(res);
    return out;
}

cli_reach_t cli_reach_probe(const char *endpoint)
{
    if (strncmp(endpoint, "ipc://", 6) == 0)
        return s_ipc(endpoint + 6);
    if (strncmp(endpoint, "tcp://", 6) == 0)
        return s_tcp(endpoint + 6);
    return CLI_REACH_UNKNOWN;
}

void cli_reach_message(const char *process, const char *endpoint, char *buf, size_t size)
{
    snprintf(buf, size,
             "%s is not running (%s): start it with `systemctl start rapport.target`, or "
             "`deploy/run.sh`",
             process, endpoint);
}
