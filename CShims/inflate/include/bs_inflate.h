#ifndef BUILD_SERVICE_INFLATE_H
#define BUILD_SERVICE_INFLATE_H

// Raw deflate decompression (zlib, -MAX_WBITS) a step at a time, so that one entry of a stored
// zip can be served at the client's pace without unpacking it: the caller feeds compressed
// bytes and takes at most `out_capacity` plain bytes per step. The z_stream stays in C.

#include <stddef.h>

typedef struct bs_inflater bs_inflater;

/// A new inflater for raw deflate data, or NULL when out of memory.
bs_inflater *bs_inflater_new(void);

void bs_inflater_free(bs_inflater *inflater);

/// Inflates from `input` (`input_length` bytes; how many were taken goes to `*used`) into
/// `output` (at most `out_capacity` bytes; how many were written goes to `*produced`).
/// Returns 1 at the end of the deflate stream, 0 when more input or room is needed, -1 for
/// data that is not valid deflate.
int bs_inflater_step(bs_inflater *inflater, const unsigned char *input, size_t input_length, size_t *used,
                     unsigned char *output, size_t out_capacity, size_t *produced);

#endif
