/* hash: FNV-1a, the one string hash of rapport's in-memory tables (the
 * server's requests in flight, a link's pending requests, the segment
 * worker's code maps). Fast on short keys; not for anything an attacker
 * could use to pick colliding keys on purpose, which these tables bound
 * otherwise (their keys are the caller's own request ids and codes). */
#ifndef RAPPORT_HASH_H
#define RAPPORT_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_INIT 1469598103934665603ull /* FNV-1a offset basis */

/* Continue hash h over len bytes. */
uint64_t hash_bytes(uint64_t h, const void *data, size_t len);

/* Continue hash h over a NUL-terminated string. */
uint64_t hash_str(uint64_t h, const char *s);

#endif
