/* librapport: the client library of rapport's workers (librapport(3)).
 *
 * One include gives the connection, the calls, the errors, the subscriber
 * and the generated message types of the wire contract (rapport/v1/...).
 *
 *   rapport_client *c;
 *   rapport_error err;
 *   if (rapport_client_new(NULL, &c, &err) != 0) ... err.message ...
 *   Rapport__V1__NoRef ref = RAPPORT__V1__NO_REF__INIT;
 *   ref.no = "C0001";
 *   Rapport__V1__InteractionReply *reply;
 *   if (rapport_interaction_get_contact(c, &ref, NULL, &reply, &err) == 0)
 *       puts(reply->contact->name);
 *   rapport_reply_free(reply);
 *   rapport_client_destroy(&c);
 *
 * Every call returns a gRPC status code: 0 (OK) or the code of the one
 * error type, rapport_error, which also carries the message and the
 * offending field. Requests carry a time-ordered unique request_id (a
 * UUIDv7 in text) unless the caller gives one; an unanswered request is
 * resent with the same id until the call's deadline, and the worker's
 * idempotency record makes the resend safe: a call completes at most once.
 *
 * Thread safety: a rapport_client, with its calls and subscribers, belongs
 * to one thread at a time (like a ZeroMQ socket); use one client per
 * thread, or a lock. Distinct clients may share a ZeroMQ context
 * (rapport_options.zmq_context). rapport_new_request_id() may be called
 * from any thread. Callbacks run inside the library call that processes
 * replies (a blocking call, rapport_client_process or rapport_subscriber_run)
 * and may start new calls, but not destroy the client. */
#ifndef LIBRAPPORT_CLIENT_H
#define LIBRAPPORT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <rapport/v1/common.pb-c.h>
#include <rapport/v1/interaction.pb-c.h>
#include <rapport/v1/logwriter.pb-c.h>
#include <rapport/v1/segment.pb-c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The soname's major version. */
#define RAPPORT_CLIENT_ABI 1

/* The three workers. */
typedef enum {
    RAPPORT_INTERACTION = 0, /* rapport-interaction: InteractionRequest / InteractionReply */
    RAPPORT_SEGMENT = 1,     /* rapport-segment: SegmentRequest / SegmentReply */
    RAPPORT_LOGWRITER = 2,   /* rapport-logwriter: LogRequest / LogReply */
    RAPPORT_SERVICE_COUNT
} rapport_service;

/* Where an error comes from. */
typedef enum {
    RAPPORT_ERR_NONE = 0,
    RAPPORT_ERR_SERVER,    /* the worker answered with this Status */
    RAPPORT_ERR_TRANSPORT, /* no answer: deadline, refused CURVE key, worker not running */
    RAPPORT_ERR_CONFIG,    /* the configuration or a key file is wrong */
    RAPPORT_ERR_USAGE,     /* a bad argument to the library */
} rapport_error_source;

/* The one error type. code is a gRPC status code (RAPPORT__V1__STATUS_CODE__*):
 * DEADLINE_EXCEEDED when no answer came in time, UNAUTHENTICATED when a
 * tcp worker refused the client's CURVE key, UNAVAILABLE when a worker is
 * not running, CANCELLED when a signal interrupted a blocking call. */
typedef struct rapport_error {
    int code;
    rapport_error_source source;
    char message[1024];
    char field[128]; /* the request field at fault, "" when none */
} rapport_error;

/* How to reach the workers. Zero (or NULL options) means: the config file
 * (RAPPORT_CONFIG, else /etc/rapport/rapport.conf when it exists), the
 * RAPPORT_<KEY> environment, no overrides. */
typedef struct rapport_options {
    const char *config_path;     /* a rapport.conf; NULL: as above; "" or "/dev/null": none */
    const char *const *settings; /* "key=value" config overrides, NULL-terminated: explicit
                                  * endpoints (interaction_endpoint=tcp://host:7001) and keys
                                  * (curve_client_secret_key_file=..., curve_server_key_dir=...) */
    const char *user_id;         /* the requests' user_id when they have none (ipc) */
    int timeout_ms;              /* a call's default deadline; 0: the config's
                                  * request_timeout_ms */
    void *zmq_context;           /* shared ZeroMQ context; NULL: the client's own */
} rapport_options;

/* Per-call choices; NULL means all defaults. */
typedef struct rapport_call_opts {
    const char *request_id; /* the idempotency key (1..64 bytes); NULL: a fresh one */
    int deadline_ms;        /* 0: the client's timeout_ms */
    int retry_ms;           /* resend interval; 0: a quarter of the deadline */
    unsigned flags;         /* RAPPORT_CALL_* */
} rapport_call_opts;

/* A retryable refusal ends the call instead of being resent until the
 * deadline: UNAVAILABLE (a worker's own peer did not answer),
 * RESOURCE_EXHAUSTED (a queue was full), ABORTED on field request_id (the
 * same request_id still on its way to the log writer). */
#define RAPPORT_CALL_NO_RETRY (1u << 0)

typedef struct rapport_client rapport_client;

/* Connect (lazily: a worker that is down is no error here). On failure
 * returns the code and fills *err (source RAPPORT_ERR_CONFIG for a bad
 * config or missing CURVE keys). */
int rapport_client_new(const rapport_options *opts, rapport_client **ret_client,
                       rapport_error *err);

/* Accepts NULL; NULLs the pointer. Pending asynchronous calls are dropped
 * without their callback. */
void rapport_client_destroy(rapport_client **client_p);

/* The endpoint of a worker ("ipc:///run/rapport/interaction.sock"), and of
 * the log writer's event PUB socket. */
const char *rapport_client_endpoint(const rapport_client *c, rapport_service svc);
const char *rapport_client_events_endpoint(const rapport_client *c);

/* The worker's process name: "rapport-interaction". */
const char *rapport_service_process(rapport_service svc);

/* The request and reply descriptors of a worker. */
const ProtobufCMessageDescriptor *rapport_service_request(rapport_service svc);
const ProtobufCMessageDescriptor *rapport_service_reply(rapport_service svc);

/* Whether the worker is there at all, within about a second and without
 * sending it anything: 0, or UNAVAILABLE with "rapport-X is not running
 * (endpoint): start it with ..." when its socket is missing or refuses
 * connections. Calls do not probe: they wait for a worker to come back
 * until their deadline. */
int rapport_client_probe(rapport_client *c, rapport_service svc, rapport_error *err);

/* A time-ordered unique id: a UUIDv7 as 36 characters + NUL. Ids made by
 * one process sort in the order they were made. Thread-safe. */
#define RAPPORT_REQUEST_ID_LEN 36
void rapport_new_request_id(char out[RAPPORT_REQUEST_ID_LEN + 1]);

/* ---- calls ----------------------------------------------------------------- */

/* Send `request` (an InteractionRequest, SegmentRequest or LogRequest with
 * its command set) to svc and wait for its reply. An empty request_id is
 * replaced by opts->request_id or a fresh id, an empty user_id by the
 * client's (request itself is left as it was). Returns 0 when the reply's
 * Status is OK, else the error's code. *ret_reply (may be NULL: the reply
 * is dropped) receives the reply whenever one came, whatever its Status,
 * else NULL; free it with rapport_reply_free. */
int rapport_call(rapport_client *c, rapport_service svc, ProtobufCMessage *request,
                 const rapport_call_opts *opts, ProtobufCMessage **ret_reply, rapport_error *err);

/* Free a reply (accepts NULL). */
void rapport_reply_free(void *reply);

/* The Status of a reply as a rapport_error; returns its code. */
int rapport_reply_error(const ProtobufCMessage *reply, rapport_error *err);

/* ---- asynchronous calls ---------------------------------------------------------- */

/* The outcome of an asynchronous call, once: code as rapport_call returns
 * it; reply (NULL when none came) is the callee's to free
 * (rapport_reply_free). */
typedef void (*rapport_done_fn)(void *arg, int code, ProtobufCMessage *reply,
                                const rapport_error *err);

/* Send now; `done` runs later from rapport_client_process (or from any
 * blocking call on the same client). Returns 0, or an error (then done
 * never runs). Many calls may be in flight at once. */
int rapport_call_async(rapport_client *c, rapport_service svc, ProtobufCMessage *request,
                       const rapport_call_opts *opts, rapport_done_fn done, void *arg,
                       rapport_error *err);

/* A file descriptor for poll/epoll/select: readable when replies may be
 * waiting. -1 on error. Owned by the client. */
int rapport_client_fd(rapport_client *c);

/* Milliseconds until a call is due for a resend or its deadline (-1: none
 * pending), 0 when replies are waiting already: the timeout of the
 * application's poll, to ask right before each poll (the fd, like ZeroMQ's
 * own, may stay quiet for replies that came while the client was
 * sending). */
int rapport_client_timeout(rapport_client *c);

/* Read the waiting replies, resend what is due, end what is past its
 * deadline, and run their callbacks, without blocking. Call when the fd is
 * readable or the timeout passed. Returns the number of calls ended. */
int rapport_client_process(rapport_client *c);

/* Asynchronous calls still waiting for their reply. */
size_t rapport_client_pending(const rapport_client *c);

/* ---- subscriber --------------------------------------------------------------- */

/* The log writer's durable events (Event.seq 1, 2, 3, ...) from a saved
 * position: live from the PUB socket, with every gap in the seqs (a
 * subscriber behind its high-water mark, a restart) filled by ReadEvents
 * from the durable log. Each durable event reaches the callback exactly
 * once and in seq order. After the callback returns for an event, its
 * seq is the position to persist; start again with from_seq = saved + 1. */
typedef struct rapport_subscriber rapport_subscriber;

/* Return 0 to go on, anything else to make rapport_subscriber_run return
 * (the event counts as delivered). */
typedef int (*rapport_event_fn)(void *arg, const Rapport__V1__Event *event);

/* Also deliver segment.log.progress events (seq 0: live only, not durable,
 * not replayed). */
#define RAPPORT_SUB_PROGRESS (1u << 0)

/* from_seq: the first seq wanted (saved + 1), or 0 for the events from now
 * on. type_prefix: only events whose type starts with it ("segment."), or
 * NULL. */
int rapport_subscriber_new(rapport_client *c, uint64_t from_seq, const char *type_prefix,
                           unsigned flags, rapport_subscriber **ret_sub, rapport_error *err);

/* Accepts NULL; NULLs the pointer. */
void rapport_subscriber_destroy(rapport_subscriber **sub_p);

/* Deliver events for up to timeout_ms (-1: until the callback stops it or
 * a signal interrupts). Returns 0 at the timeout or when the callback
 * asked, CANCELLED on a signal, DATA_LOSS when events from from_seq on are
 * no longer kept (the subscriber goes on after them), or the error of a
 * failed ReadEvents (call again to retry). */
int rapport_subscriber_run(rapport_subscriber *s, int timeout_ms, rapport_event_fn fn, void *arg,
                           rapport_error *err);

/* The next seq the subscriber will deliver (every durable event before it
 * has been delivered or filtered out). */
uint64_t rapport_subscriber_next_seq(const rapport_subscriber *s);

/* The SUB socket's file descriptor, for an application's poll (as
 * rapport_client_fd). */
int rapport_subscriber_fd(rapport_subscriber *s);

/* ---- typed calls, one per command of the three workers ---------------------------------
 *
 * rapport_<worker>_<command>(c, cmd, opts, &reply, &err) sends the command
 * `cmd` (the request's oneof member) as rapport_call does;
 * rapport_<worker>_<command>_async(c, cmd, opts, done, arg, &err) as
 * rapport_call_async. Generated at build time from the .proto files. */
#include <rapport/client_calls.h>

#ifdef __cplusplus
}
#endif

#endif
