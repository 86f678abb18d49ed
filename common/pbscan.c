/* pbscan: the protobuf wire format written field by field (the reading
 * half is inline, in pbscan.h). See pbscan.h for why. */
#include "pbscan.h"

#include <string.h>

size_t pbscan_put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

size_t pbscan_put_uint(uint8_t *out, uint32_t field, uint64_t v)
{
    size_t n = pbscan_put_varint(out, (uint64_t)field << 3 | PBSCAN_VARINT);
    return n + pbscan_put_varint(out + n, v);
}

size_t pbscan_put_bytes(uint8_t *out, uint32_t field, const void *data, size_t len)
{
    size_t n = pbscan_put_varint(out, (uint64_t)field << 3 | PBSCAN_BYTES);
    n += pbscan_put_varint(out + n, len);
    if (len)
        memcpy(out + n, data, len);
    return n + len;
}
