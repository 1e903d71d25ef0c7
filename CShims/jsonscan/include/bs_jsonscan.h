#ifndef BUILD_SERVICE_JSONSCAN_H
#define BUILD_SERVICE_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>

/// Length of the longest prefix of bytes[0..<count] that a JSON string can hold as it is: no
/// byte below 0x20, no '"', no '\\', and with stop_at_non_ascii also no byte >= 0x80.
/// Sixteen bytes per step with SSE2 where available: the hot loop of every output event.
size_t bs_json_plain_prefix(const uint8_t *bytes, size_t count, int stop_at_non_ascii);

/// Writes bytes[0..<count] into out[0..<capacity] as the inside of a JSON string, decoding it
/// as UTF-8 lossily in the same pass: each maximal invalid subpart (Unicode Table 3-7) becomes
/// U+FFFD; control characters, the quote and the backslash are escaped (short forms for
/// newline, return, tab, backspace and form feed, else u00xx); everything else is copied as it
/// is. Stops early when fewer than 6 bytes of room are left. Returns the bytes written and sets
/// *consumed to the bytes read.
size_t bs_json_escape_lossy(const uint8_t *bytes, size_t count, uint8_t *out, size_t capacity, size_t *consumed);

/// Decodes the inside of a JSON string from bytes[0..<count] into out (room for count bytes):
/// plain runs and the two-character escapes, in one pass. Stops at the first thing it leaves to
/// the caller: a \u escape, a quote, a raw control character, a bad or cut-off escape.
/// Returns the bytes read and sets *written to the bytes written. The client's hot loop: build
/// logs have an escaped newline every few dozen bytes.
size_t bs_json_unescape_simple(const uint8_t *bytes, size_t count, uint8_t *out, size_t *written);

#endif
