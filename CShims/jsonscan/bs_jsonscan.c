#include "bs_jsonscan.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline int needs_attention(uint8_t byte, int stop_at_non_ascii) {
    return byte < 0x20 || byte == '"' || byte == '\\' || (stop_at_non_ascii && byte >= 0x80);
}

size_t bs_json_plain_prefix(const uint8_t *bytes, size_t count, int stop_at_non_ascii) {
    size_t index = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i last_control = _mm_set1_epi8(0x1F);
    for (; index + 16 <= count; index += 16) {
        __m128i chunk = _mm_loadu_si128((const __m128i *)(bytes + index));
        // Unsigned "byte <= 0x1F" is "max(byte, 0x1F) == 0x1F".
        __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(chunk, last_control), last_control);
        __m128i special = _mm_or_si128(control, _mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash)));
        int mask = _mm_movemask_epi8(special);
        if (stop_at_non_ascii) mask |= _mm_movemask_epi8(chunk);  // the high bit of each byte
        if (mask != 0) return index + (size_t)__builtin_ctz((unsigned)mask);
    }
#endif
    while (index < count && !needs_attention(bytes[index], stop_at_non_ascii)) index++;
    return index;
}

/// The length of the well-formed UTF-8 sequence at bytes[0] (lead byte >= 0x80), or, when it is
/// not one, the length of the maximal subpart to replace with one U+FFFD (at least 1).
static size_t utf8_sequence(const uint8_t *bytes, size_t available, int *complete) {
    uint8_t lead = bytes[0];
    size_t needed;
    uint8_t low = 0x80, high = 0xBF;  // the range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
        needed = 2;
    } else if (lead == 0xE0) {
        needed = 3; low = 0xA0;
    } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
        needed = 3;
    } else if (lead == 0xED) {
        needed = 3; high = 0x9F;
    } else if (lead == 0xF0) {
        needed = 4; low = 0x90;
    } else if (lead >= 0xF1 && lead <= 0xF3) {
        needed = 4;
    } else if (lead == 0xF4) {
        needed = 4; high = 0x8F;
    } else {
        *complete = 0;
        return 1;
    }
    size_t length = 1;
    while (length < needed) {
        if (length >= available) { *complete = 0; return length; }
        uint8_t next = bytes[length];
        if (next < (length == 1 ? low : 0x80) || next > (length == 1 ? high : 0xBF)) { *complete = 0; return length; }
        length++;
    }
    *complete = 1;
    return needed;
}

size_t bs_json_escape_lossy(const uint8_t *bytes, size_t count, uint8_t *out, size_t capacity, size_t *consumed) {
    static const char hex[] = "0123456789abcdef";
    size_t in = 0, written = 0;
    while (in < count) {
        // A plain run, copied whole (most of any build log).
        size_t run = bs_json_plain_prefix(bytes + in, count - in, 1);
        if (run > capacity - written) run = capacity - written;
        memcpy(out + written, bytes + in, run);
        in += run;
        written += run;
        if (in == count || capacity - written < 6) break;
        uint8_t byte = bytes[in];
        if (byte >= 0x80) {
            int complete;
            size_t length = utf8_sequence(bytes + in, count - in, &complete);
            if (complete) {
                memcpy(out + written, bytes + in, length);
                written += length;
            } else {
                out[written++] = 0xEF; out[written++] = 0xBF; out[written++] = 0xBD;
            }
            in += length;
            continue;
        }
        in++;
        out[written++] = '\\';
        switch (byte) {
        case '"': out[written++] = '"'; break;
        case '\\': out[written++] = '\\'; break;
        case '\n': out[written++] = 'n'; break;
        case '\r': out[written++] = 'r'; break;
        case '\t': out[written++] = 't'; break;
        case 0x08: out[written++] = 'b'; break;
        case 0x0C: out[written++] = 'f'; break;
        default:
            out[written++] = 'u'; out[written++] = '0'; out[written++] = '0';
            out[written++] = (uint8_t)hex[byte >> 4]; out[written++] = (uint8_t)hex[byte & 0x0F];
        }
    }
    *consumed = in;
    return written;
}

size_t bs_json_unescape_simple(const uint8_t *bytes, size_t count, uint8_t *out, size_t *written) {
    size_t in = 0, length = 0;
    while (in < count) {
        size_t run = bs_json_plain_prefix(bytes + in, count - in, 0);
        memcpy(out + length, bytes + in, run);
        in += run;
        length += run;
        if (in == count || bytes[in] != '\\' || in + 1 == count) break;
        uint8_t decoded;
        switch (bytes[in + 1]) {
        case '"': decoded = '"'; break;
        case '\\': decoded = '\\'; break;
        case '/': decoded = '/'; break;
        case 'n': decoded = '\n'; break;
        case 'r': decoded = '\r'; break;
        case 't': decoded = '\t'; break;
        case 'b': decoded = '\b'; break;
        case 'f': decoded = '\f'; break;
        default: goto done;  // \u and anything invalid: the caller's
        }
        out[length++] = decoded;
        in += 2;
    }
done:
    *written = length;
    return in;
}
