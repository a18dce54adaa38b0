/* SPDX-License-Identifier: MIT */
#include "utf8.h"

#include <stdbool.h>
#include <string.h>

/*
 * Looks at the character that starts at s (len > 0 bytes left). Returns its
 * length (1 to 4) when it is well-formed UTF-8 (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF) and not NUL. Otherwise returns 0
 * and sets *bad to the length of the ill-formed part, at least 1 byte: the
 * lead byte and the continuation bytes that were right so far, which Unicode
 * recommends replacing by one U+FFFD. *cut is set when that part runs into
 * the end of the input, i.e. the character was cut short rather than wrong.
 */
static size_t char_length(const unsigned char *s, size_t len, size_t *bad, bool *cut)
{
	/* The range of the byte after the lead byte; later ones are always 80..BF. */
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need;

	*bad = 1;
	*cut = false;
	if (s[0] == 0)
		return 0; /* the output is a C string: a NUL would end it early */
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		need = 2;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		need = 3;
		if (s[0] == 0xE0)
			lo = 0xA0; /* below is an overlong form */
		else if (s[0] == 0xED)
			hi = 0x9F; /* above are the surrogates */
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		need = 4;
		if (s[0] == 0xF0)
			lo = 0x90; /* below is an overlong form */
		else if (s[0] == 0xF4)
			hi = 0x8F; /* above is past U+10FFFF */
	} else {
		return 0; /* a continuation byte, C0, C1 or F5..FF: never a lead byte */
	}

	for (size_t i = 1; i < need; i++) {
		if (i == len) {
			*bad = i;
			*cut = true;
			return 0;
		}
		if (s[i] < lo || s[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return need;
}

size_t rdq_utf8_copy(char *dst, size_t size, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t in = 0, out = 0;

	if (size == 0)
		return 0;
	while (in < len) {
		const char *piece;
		size_t n, piece_len, bad;
		bool cut;

		n = char_length(s + in, len - in, &bad, &cut);
		if (n > 0) {
			piece = src + in;
			piece_len = n;
		} else if (cut) {
			break;
		} else {
			piece = RDQ_UTF8_REPLACEMENT;
			piece_len = strlen(RDQ_UTF8_REPLACEMENT);
			n = bad;
		}
		if (piece_len > size - 1 - out)
			break; /* whole characters only: the rest does not fit */
		memcpy(dst + out, piece, piece_len);
		out += piece_len;
		in += n;
	}
	dst[out] = '\0';
	return out;
}

bool rdq_utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t in = 0, bad;
	bool cut;

	while (in < len) {
		size_t n = u[in] == 0 ? 1 : char_length(u + in, len - in, &bad, &cut);

		if (n == 0)
			return false;
		in += n;
	}
	return true;
}
