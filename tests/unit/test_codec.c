/* Unit tests of rewrite/codec.c: quoted-printable and base64 must round
 * trip every byte at every line-length boundary, and the encoders must
 * keep to RFC 2045's line limits, or an edited message breaks in transit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "mbuf.h"

static const char *eols[] = { "\r\n", "\n" };

/* What a QP round trip yields: input line breaks become eol; a lone CR
 * stays data. */
static void
eol_normalise(const char *in, size_t len, const char *eol, struct mbuf *out)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n') {
			mbuf_puts(out, eol);
			i++;
		} else if (in[i] == '\n')
			mbuf_puts(out, eol);
		else
			mbuf_putc(out, in[i]);
	}
}

/* Every encoded line: at most 76 octets, only printable ASCII, "=" only
 * in "=XX" or a final soft break, no blank before the line end. */
static void
qp_check_lines(const char *enc, size_t len, const char *eol)
{
	size_t elen = strlen(eol), start = 0, i, n;
	const char *line;

	while (start < len) {
		const char *e = strstr(enc + start, eol);
		assert_non_null(e);
		line = enc + start;
		n = (size_t)(e - line);
		if (n > 76)
			fail_msg("QP line of %zu octets: %.*s", n, (int)n, line);
		if (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
			fail_msg("QP line ends in a blank: %.*s", (int)n, line);
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)line[i];
			if (c == '=') {
				if (i + 1 == n)
					continue;	/* soft break */
				assert_true(i + 2 < n);
				assert_non_null(strchr("0123456789ABCDEF", line[i + 1]));
				assert_non_null(strchr("0123456789ABCDEF", line[i + 2]));
				i += 2;
			} else if (!(c == ' ' || c == '\t' || (c > 32 && c < 127)))
				fail_msg("raw octet 0x%02x in QP line", c);
		}
		start = (size_t)(e - enc) + elen;
	}
	/* no bare CR or LF outside eol pairs */
	if (strcmp(eol, "\n") == 0)
		assert_null(memchr(enc, '\r', len));
}

static void
qp_round_trip(const char *in, size_t len)
{
	struct mbuf enc, dec, want;
	size_t e;

	for (e = 0; e < 2; e++) {
		mbuf_init(&enc);
		mbuf_init(&dec);
		mbuf_init(&want);
		assert_int_equal(qp_encode(in, len, eols[e], &enc), 0);
		if (enc.len > 0) {
			/* check lines on a copy that ends with eol */
			struct mbuf chk;
			mbuf_init(&chk);
			mbuf_append(&chk, enc.data, enc.len);
			if (enc.len < strlen(eols[e]) ||
			    strcmp(enc.data + enc.len - strlen(eols[e]), eols[e]) != 0)
				mbuf_puts(&chk, eols[e]);
			qp_check_lines(chk.data, chk.len, eols[e]);
			mbuf_free(&chk);
		}
		assert_int_equal(qp_decode(enc.data ? enc.data : "", enc.len, &dec), 0);
		eol_normalise(in, len, eols[e], &want);
		if (dec.len != want.len ||
		    (want.len > 0 && memcmp(dec.data, want.data, want.len) != 0))
			fail_msg("QP round trip differs (eol %s, %zu octets in, "
			    "encoded: %s)", e ? "LF" : "CRLF", len, enc.data);
		mbuf_free(&enc);
		mbuf_free(&dec);
		mbuf_free(&want);
	}
}

static void
b64_round_trip(const char *in, size_t len)
{
	struct mbuf enc, dec;
	size_t e, pos, n, elen;
	const char *nl;

	for (e = 0; e < 2; e++) {
		elen = strlen(eols[e]);
		mbuf_init(&enc);
		mbuf_init(&dec);
		assert_int_equal(b64_encode(in, len, eols[e], &enc), 0);
		if (len > 0) {
			assert_true(enc.len >= elen);
			assert_string_equal(enc.data + enc.len - elen, eols[e]);
		}
		for (pos = 0; pos < enc.len; pos = (size_t)(nl - enc.data) + elen) {
			nl = strstr(enc.data + pos, eols[e]);
			assert_non_null(nl);
			n = (size_t)(nl - enc.data) - pos;
			if ((size_t)(nl - enc.data) + elen < enc.len)
				assert_int_equal(n, 76);
			else
				assert_true(n > 0 && n <= 76);
			assert_true(strspn(enc.data + pos,
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789+/=") >= n);
		}
		assert_int_equal(b64_decode(enc.data ? enc.data : "", enc.len, &dec), 0);
		assert_int_equal(dec.len, len);
		if (len > 0)
			assert_memory_equal(dec.data, in, len);
		mbuf_free(&enc);
		mbuf_free(&dec);
	}
}

static void
both_round_trips(const char *in, size_t len)
{
	qp_round_trip(in, len);
	b64_round_trip(in, len);
}

static void
test_empty(void **state)
{
	struct mbuf b;

	(void)state;
	both_round_trips("", 0);
	mbuf_init(&b);
	assert_int_equal(qp_decode("", 0, &b), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(b64_decode("", 0, &b), 0);
	assert_int_equal(b.len, 0);
	mbuf_free(&b);
}

/* Lines of 74..78 octets whose edge (positions 73..77) holds "=", a
 * blank, a dot or a high octet; with and without a line break after. */
static void
test_line_boundaries(void **state)
{
	static const char edge[] = { '=', ' ', '\t', '.', 'x', (char)0xe9 };
	char line[200];
	size_t len, pos, k, tail;

	(void)state;
	for (len = 70; len <= 80; len++) {
		for (pos = 70; pos < len; pos++) {
			for (k = 0; k < sizeof(edge); k++) {
				memset(line, 'a', len);
				line[pos] = edge[k];
				for (tail = 0; tail < 4; tail++) {
					static const char *tails[] = {
						"", "\n", "\r\n", "\r\nnext line\n"
					};
					size_t tl = strlen(tails[tail]);
					memcpy(line + len, tails[tail], tl);
					both_round_trips(line, len + tl);
				}
			}
		}
	}
	/* a line of blanks ending exactly at the limit */
	memset(line, ' ', 76);
	memcpy(line + 76, "\n", 1);
	both_round_trips(line, 77);
	/* a run of escapes across the limit */
	memset(line, '=', 100);
	both_round_trips(line, 100);
}

static void
test_trailing_blanks(void **state)
{
	static const char *in[] = {
		"trailing space \n", "trailing tab\t\r\n", "two  \r\nlines \t ",
		" ", "\t", "  \n  \n", "a \rb", "end with blank ",
	};
	struct mbuf enc;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		both_round_trips(in[i], strlen(in[i]));
	mbuf_init(&enc);
	assert_int_equal(qp_encode("a \nb", 4, "\r\n", &enc), 0);
	assert_null(strstr(enc.data, " \r\n"));
	mbuf_free(&enc);
}

static void
test_all_octets(void **state)
{
	char all[256 * 3];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(all); i++)
		all[i] = (char)(i % 256);
	both_round_trips(all, sizeof(all));
	for (i = 0; i < sizeof(all); i++)
		all[i] = (char)(255 - i % 256);
	both_round_trips(all, sizeof(all));
	for (i = 1; i <= 256; i++)
		both_round_trips(all, i);
}

static void
test_long_lines(void **state)
{
	char *in = malloc(3000 * 3 + 10);
	size_t i;

	(void)state;
	for (i = 0; i < 3000; i++)
		in[i] = (char)('a' + i % 26);
	both_round_trips(in, 3000);
	for (i = 0; i < 3000; i++)
		in[i] = (char)(i % 7 == 0 ? ' ' : i % 11 == 0 ? '=' : 'x');
	both_round_trips(in, 3000);
	memcpy(in + 3000, "\r\n", 2);
	memcpy(in + 3002, in, 3000);
	both_round_trips(in, 6002);
	for (i = 0; i < 3000; i++)
		in[i] = (char)(0x80 + i % 128);
	both_round_trips(in, 3000);
	free(in);
}

static void
test_b64_lines(void **state)
{
	char in[57 * 3];
	struct mbuf enc;

	(void)state;
	memset(in, 'x', sizeof(in));
	mbuf_init(&enc);
	assert_int_equal(b64_encode(in, 57, "\r\n", &enc), 0);
	assert_int_equal(enc.len, 78);
	mbuf_reset(&enc);
	assert_int_equal(b64_encode(in, 58, "\r\n", &enc), 0);
	assert_int_equal(enc.len, 78 + 4 + 2);
	mbuf_reset(&enc);
	assert_int_equal(b64_encode(in, 57 * 3, "\n", &enc), 0);
	assert_int_equal(enc.len, 77 * 3);
	mbuf_free(&enc);
}

static void
expect_b64(const char *in, const char *want, size_t wantlen)
{
	struct mbuf out;
	int rc;

	mbuf_init(&out);
	rc = b64_decode(in, strlen(in), &out);
	if (want == NULL) {
		if (rc != -1)
			fail_msg("b64_decode accepted '%s'", in);
	} else {
		if (rc != 0)
			fail_msg("b64_decode refused '%s'", in);
		assert_int_equal(out.len, wantlen);
		assert_memory_equal(out.data, want, wantlen);
	}
	mbuf_free(&out);
}

static void
test_b64_decode(void **state)
{
	(void)state;
	expect_b64("SGVsbG8=", "Hello", 5);
	expect_b64("SGVs\r\nbG8=\r\n", "Hello", 5);
	expect_b64(" SGVs\tbG8=\n", "Hello", 5);
	expect_b64("SGVs bG8g d29y bGQ=\r\n", "Hello world", 11);
	expect_b64("SGVs*bG8=", NULL, 0);
	expect_b64("SGVs-bG8=", NULL, 0);	/* base64url alphabet */
	expect_b64("SGVs_bG8=", NULL, 0);
	expect_b64("SGVsbG8=QQ==", NULL, 0);	/* data after padding */
	expect_b64("SGVsbG8=\r\n.", NULL, 0);
	expect_b64("SGVsbG8=\x01", NULL, 0);
}

static void
expect_qp(const char *in, const char *want, size_t wantlen)
{
	struct mbuf out;

	mbuf_init(&out);
	assert_int_equal(qp_decode(in, strlen(in), &out), 0);
	if (out.len != wantlen || memcmp(out.data, want, wantlen) != 0)
		fail_msg("qp_decode('%s') = '%.*s', want '%.*s'", in,
		    (int)out.len, out.data, (int)wantlen, want);
	mbuf_free(&out);
}

static void
test_qp_decode(void **state)
{
	(void)state;
	/* soft breaks, CRLF and LF, with transport padding */
	expect_qp("abc=\r\ndef", "abcdef", 6);
	expect_qp("abc=\ndef", "abcdef", 6);
	expect_qp("abc= \t\r\ndef", "abcdef", 6);
	expect_qp("abc\r\ndef", "abc\r\ndef", 8);
	/* hex, upper and lower case */
	expect_qp("=3D=E9=c3=a9", "=\xe9\xc3\xa9", 4);
	expect_qp("=00", "\0", 1);
	/* malformed "=" sequences are kept literally */
	expect_qp("a=zzb", "a=zzb", 5);
	expect_qp("a=4", "a=4", 3);
	expect_qp("a=4g", "a=4g", 4);
	expect_qp("==41", "=A", 2);
	expect_qp("a = b", "a = b", 5);
	/* trailing blanks are kept */
	expect_qp("a  \r\nb", "a  \r\nb", 6);
}

static void
test_cte_names(void **state)
{
	(void)state;
	assert_int_equal(cte_from_name("Quoted-Printable", 16), CTE_QP);
	assert_int_equal(cte_from_name(" BASE64 ", 8), CTE_BASE64);
	assert_int_equal(cte_from_name("8bit", 4), CTE_8BIT);
	assert_int_equal(cte_from_name("x-uuencode", 10), CTE_OTHER);
	assert_string_equal(cte_name(CTE_QP), "quoted-printable");
	assert_string_equal(cte_name(CTE_BASE64), "base64");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_line_boundaries),
		cmocka_unit_test(test_trailing_blanks),
		cmocka_unit_test(test_all_octets),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_b64_lines),
		cmocka_unit_test(test_b64_decode),
		cmocka_unit_test(test_qp_decode),
		cmocka_unit_test(test_cte_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
