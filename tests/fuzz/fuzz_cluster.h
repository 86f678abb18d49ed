/* fuzz_cluster: the real workers in one process, for the fuzz targets.
 *
 * Each worker is built as its main.c builds it (store under a temporary
 * state dir, links, server) but bound to inproc:// endpoints of one ZeroMQ
 * context, and driven by server_step() from the fuzzer's thread: a request
 * goes in through a DEALER, every worker of the cluster takes turns until
 * the reply comes back. Requests that a worker sends to a peer reach the
 * real peer when it is part of the cluster (FZ_LOGWRITER for the
 * interaction worker, all three for the segment worker).
 *
 * The checks every target gets: a reply always comes, it decodes as the
 * worker's reply message, it carries the request_id the worker could read
 * (the request's, or the first one found by scanning an undecodable
 * request), and a refusal carries a message. A request left unanswered, or an
 * undecodable reply, aborts: libFuzzer reports it as a crash. */
#ifndef RAPPORT_FUZZ_CLUSTER_H
#define RAPPORT_FUZZ_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

enum {
    FZ_LOGWRITER = 1 << 0,
    FZ_INTERACTION = 1 << 1,
    FZ_SEGMENT = 1 << 2,
};

typedef enum { FZ_W_LOGWRITER, FZ_W_INTERACTION, FZ_W_SEGMENT } fz_worker_t;

/* Start the workers of `mask` (process-wide, once; removed at exit). */
void fz_cluster_start(unsigned mask);

/* Send one request to a worker and wait for its reply; aborts when none
 * comes within a few seconds or it does not decode. The decoded reply is
 * valid until the next call (NULL when the reply was empty). */
const ProtobufCMessage *fz_call(fz_worker_t w, const void *data, size_t len);

/* Pack msg and fz_call it; aborts unless the reply says OK when must_ok. */
const ProtobufCMessage *fz_call_msg(fz_worker_t w, const ProtobufCMessage *msg, bool must_ok);

/* The status code of a reply (0: OK). */
int fz_status(const ProtobufCMessage *reply);

/* Let the workers finish background work (segment logs): step them for up
 * to ms milliseconds or until idle. */
void fz_settle(long ms);

/* Start again from empty stores (a new state dir). */
void fz_cluster_reset(void);

/* Replay a set-up script (see make_corpus.py: frames of one byte worker,
 * u32 LE length, request) to the workers of the cluster; frames for
 * workers not started are skipped. Aborts when one is refused. */
void fz_setup(const char *path);

/* fz_call for a fuzzer's input; every other call appends a fresh
 * request_id so that mutating commands really run. */
const ProtobufCMessage *fz_call_input(fz_worker_t w, const uint8_t *data, size_t size);

/* Inputs given to fz_call_input since the last reset. */
uint64_t fz_calls(void);

/* Check the log writer through its queries: entries in order (and numbered
 * 1..N without a gap when `gapless`), no visible entry of a logged segment
 * that is not visible and, when `strict` (nothing was deleted), every
 * visible logged segment complete (its entry range all there and carrying
 * its number, the count matching). Aborts. */
void fz_check_writer(bool gapless, bool strict);

/* Check the log writer's durable event log against its store: seq 1..last
 * without a gap; no event creates an entry no. that exists or names one that
 * does not; replayed, the events give exactly the entries the writer lists,
 * with their postponed, canceled and logged segment. Aborts. */
void fz_check_events(void);

/* The state dir of the cluster (for store checks). */
const char *fz_state_dir(void);

#endif
