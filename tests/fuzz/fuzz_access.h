/* fuzz_access: what the fuzz cluster needs from inside the log writer and
 * the segment worker, kept out of their public headers. */
#ifndef RAPPORT_FUZZ_ACCESS_H
#define RAPPORT_FUZZ_ACCESS_H

#include <stdbool.h>

#include "logwriter_server.h"
#include "segment_server.h"
#include "server.h"

server_t *fz_writer_server(logwriter_t *w);
server_t *fz_segment_server(segsrv_t *s);
bool fz_segment_busy(const segsrv_t *s);

#endif
