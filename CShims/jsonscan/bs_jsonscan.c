#include "bs_jsonscan.h"

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
