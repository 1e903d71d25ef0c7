#include "bs_inflate.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct bs_inflater {
    z_stream stream;
};

bs_inflater *bs_inflater_new(void) {
    bs_inflater *inflater = calloc(1, sizeof(bs_inflater));
    if (inflater == NULL) return NULL;
    // Negative window bits: raw deflate, as zip entries hold it (no zlib header).
    if (inflateInit2(&inflater->stream, -MAX_WBITS) != Z_OK) {
        free(inflater);
        return NULL;
    }
    return inflater;
}

void bs_inflater_free(bs_inflater *inflater) {
    if (inflater == NULL) return;
    inflateEnd(&inflater->stream);
    free(inflater);
}

int bs_inflater_step(bs_inflater *inflater, const unsigned char *input, size_t input_length, size_t *used,
                     unsigned char *output, size_t out_capacity, size_t *produced) {
    z_stream *stream = &inflater->stream;
    // zlib counts in uInt: never hand it more than that at once.
    if (input_length > 0x40000000u) input_length = 0x40000000u;
    if (out_capacity > 0x40000000u) out_capacity = 0x40000000u;
    stream->next_in = (unsigned char *)input;
    stream->avail_in = (uInt)input_length;
    stream->next_out = output;
    stream->avail_out = (uInt)out_capacity;
    int result = inflate(stream, Z_NO_FLUSH);
    *used = input_length - stream->avail_in;
    *produced = out_capacity - stream->avail_out;
    switch (result) {
    case Z_STREAM_END: return 1;
    case Z_OK: return 0;
    case Z_BUF_ERROR: return 0;  // no progress possible without more input or room
    default: return -1;
    }
}
