#ifndef BUILD_SERVICE_JSONSCAN_H
#define BUILD_SERVICE_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>

/// Length of the longest prefix of bytes[0..<count] that a JSON string can hold as it is: no
/// byte below 0x20, no '"', no '\\', and with stop_at_non_ascii also no byte >= 0x80.
/// Sixteen bytes per step with SSE2 where available: the hot loop of every output event.
size_t bs_json_plain_prefix(const uint8_t *bytes, size_t count, int stop_at_non_ascii);

#endif
