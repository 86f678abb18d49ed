/* client: send, await by request_id, retry with the same bytes.
 *
 * Over tcp the DEALER is a CURVE client (bus.c) and a monitor socket
 * watches its handshakes, so that a call which times out can tell "the
 * server refused our key" (RP_EUNAUTH) from "nobody answered". */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "bus.h"
#include "clock.h"
#include "wire.h"

struct client {
    void *sock;
    void *monitor; /* PAIR receiving the DEALER's handshake failures (tcp) */
    bool refused;  /* the server refused our CURVE key */
    size_t max_msg_size;
};

/* Watch the DEALER's handshake failures. Best effort: without the monitor
 * a refused key is reported as a timeout. */
static void s_monitor_start(void *zctx, client_t *c)
{
    char addr[64];
    int linger = 0;

    snprintf(addr, sizeof(addr), "inproc://rapport-client-monitor-%p", (void *)c);
    if (zmq_socket_monitor(c->sock, addr, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
        return;
    c->monitor = zmq_socket(zctx, ZMQ_PAIR);
    if (!c->monitor)
        return;
    zmq_setsockopt(c->monitor, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_connect(c->monitor, addr) != 0) {
        zmq_close(c->monitor);
        c->monitor = NULL;
    }
}

/* Read the monitor's waiting events; whether the server refused our key. */
static bool s_monitor_refused(client_t *c)
{
    while (c->monitor && !c->refused) {
        zmq_msg_t m;
        uint16_t event = 0;
        bool more;

        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        /* Two frames: event id (u16) + value (u32), then the endpoint. */
        if (zmq_msg_size(&m) == 6)
            memcpy(&event, zmq_msg_data(&m), sizeof(event));
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            c->refused = true;
        if (more) {
            zmq_msg_init(&m);
            zmq_msg_recv(&m, c->monitor, ZMQ_DONTWAIT);
            zmq_msg_close(&m);
        }
    }
    return c->refused;
}

rp_err client_new(void *zctx, const char *endpoint, const config_t *cfg, client_t **ret_client,
                  char *errbuf, size_t errlen)
{
    client_t *c = calloc(1, sizeof(*c));
    rp_err rc;

    if (!c)
        return RP_ENOMEM;
    rc = bus_socket_connect(zctx, BUS_DEALER, endpoint, cfg, &c->sock, errbuf, errlen);
    if (rc != RP_OK) {
        free(c);
        return rc;
    }
    c->max_msg_size = (size_t)bus_hard_max_msg_size(cfg);
    if (auth_endpoint_is_tcp(endpoint))
        s_monitor_start(zctx, c);
    *ret_client = c;
    return RP_OK;
}

void client_destroy(client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->sock) {
        if ((*self_p)->monitor)
            zmq_socket_monitor((*self_p)->sock, NULL, 0);
        zmq_close((*self_p)->sock);
    }
    if ((*self_p)->monitor)
        zmq_close((*self_p)->monitor);
    free(*self_p);
    *self_p = NULL;
}

void client_new_request_id(char out[CLIENT_REQUEST_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[CLIENT_REQUEST_ID_LEN / 2];
    ssize_t n = getrandom(raw, sizeof(raw), 0);

    if (n != (ssize_t)sizeof(raw)) {
        /* getrandom cannot fail for 16 bytes once the pool is ready; fall
         * back to time and pid rather than abort. */
        uint64_t t = clock_mono_ns() ^ ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < sizeof(raw); i++)
            raw[i] = (uint8_t)(t >> (8 * (i % 8))) ^ (uint8_t)i;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[CLIENT_REQUEST_ID_LEN] = '\0';
}

const ProtobufCBinaryData *client_message_request_id(const ProtobufCMessage *msg)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(msg->descriptor, 1);
    if (!fd || fd->type != PROTOBUF_C_TYPE_BYTES || strcmp(fd->name, "request_id") != 0)
        return NULL;
    return (const ProtobufCBinaryData *)((const char *)msg + fd->offset);
}

bool client_refused(client_t *c)
{
    return s_monitor_refused(c);
}

void *client_socket(client_t *c)
{
    return c->sock;
}

static rp_err s_send_bytes(client_t *c, const uint8_t *buf, size_t len)
{
    return bus_send(c->sock, buf, len);
}

rp_err client_send(client_t *c, const ProtobufCMessage *req)
{
    uint8_t *buf;
    size_t len;
    rp_err rc = wire_encode(req, &buf, &len);
    if (rc != RP_OK)
        return rc;
    rc = s_send_bytes(c, buf, len);
    free(buf);
    return rc;
}

/* Wait for one message for at most timeout_ms; RP_ETIMEDOUT. */
static rp_err s_recv_raw(client_t *c, int timeout_ms, zmq_msg_t *ret_body)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        int ready;
        rp_err rc = bus_recv(c->sock, ret_body, NULL, 0);
        if (rc == RP_OK)
            return RP_OK;
        if (rc != RP_ENOTFOUND)
            return rc;
        if (left <= 0)
            return RP_ETIMEDOUT;
        ready = bus_poll(&c->sock, 1, (long)left);
        if (ready < 0 && !bus_interrupted())
            return RP_EIO;
        if (ready < 0)
            return RP_EABORTED;
    }
}

rp_err client_recv(client_t *c, const ProtobufCMessageDescriptor *reply_desc, int timeout_ms,
                   ProtobufCMessage **ret_reply)
{
    zmq_msg_t body;
    wire_error_t werr;
    rp_err rc = s_recv_raw(c, timeout_ms, &body);
    if (rc == RP_ETIMEDOUT && timeout_ms > 0 && s_monitor_refused(c))
        return RP_EUNAUTH;
    if (rc != RP_OK)
        return rc;
    rc = wire_decode(reply_desc, zmq_msg_data(&body), zmq_msg_size(&body), c->max_msg_size, 0,
                     ret_reply, &werr);
    zmq_msg_close(&body);
    return rc == RP_OK ? RP_OK : RP_EPROTO;
}

rp_err client_call(client_t *c, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *reply_desc, int timeout_ms, int retry_ms,
                   ProtobufCMessage **ret_reply)
{
    const ProtobufCBinaryData *rid = client_message_request_id(req);
    int64_t deadline, next_send;
    uint8_t *buf;
    size_t len;
    rp_err rc;

    if (!rid || !wire_request_id_valid(rid))
        return RP_EINVAL;
    rc = wire_encode(req, &buf, &len);
    if (rc != RP_OK)
        return rc;
    deadline = clock_mono_ms() + timeout_ms;
    next_send = 0;
    for (;;) {
        int64_t now = clock_mono_ms(), wait;
        ProtobufCMessage *reply;
        const ProtobufCBinaryData *got;

        if (now >= deadline) {
            rc = RP_ETIMEDOUT;
            break;
        }
        if (now >= next_send) {
            rc = s_send_bytes(c, buf, len);
            if (rc != RP_OK && rc != RP_ENOSPC)
                break;
            next_send = retry_ms > 0 ? now + retry_ms : INT64_MAX;
        }
        wait = (next_send < deadline ? next_send : deadline) - now;
        rc = client_recv(c, reply_desc, (int)(wait > 0 ? wait : 0), &reply);
        if (rc == RP_ETIMEDOUT)
            continue;
        if (rc == RP_EPROTO)
            continue; /* not ours or garbage: keep waiting */
        if (rc != RP_OK)
            break;
        got = client_message_request_id(reply);
        if (got && got->len == rid->len && memcmp(got->data, rid->data, rid->len) == 0) {
            *ret_reply = reply;
            rc = RP_OK;
            break;
        }
        wire_free(reply); /* a late reply to an earlier request */
    }
    free(buf);
    if (rc == RP_ETIMEDOUT && s_monitor_refused(c))
        rc = RP_EUNAUTH;
    return rc;
}
