/* codec: Content-Transfer-Encoding decoders and encoders (RFC 2045).
 * Quoted-printable is hand written: none of our libraries (libxml2, libsodium,
 * OpenSSL, libcurl) offers it. Base64 decoding and encoding use libsodium. */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sodium.h>
#include "codec.h"

static const struct {
	const char *name;
	enum cte cte;
} cte_names[] = {
	{ "7bit", CTE_7BIT },
	{ "8bit", CTE_8BIT },
	{ "binary", CTE_BINARY },
	{ "quoted-printable", CTE_QP },
	{ "base64", CTE_BASE64 },
};

enum cte
cte_from_name(const char *name, size_t len)
{
	while (len > 0 && isspace((unsigned char)*name)) {
		name++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)name[len - 1]))
		len--;
	if (len == 0)
		return CTE_7BIT;	/* an empty header means the default */
	for (size_t i = 0; i < sizeof(cte_names) / sizeof(cte_names[0]); i++)
		if (strlen(cte_names[i].name) == len &&
		    strncasecmp(cte_names[i].name, name, len) == 0)
			return cte_names[i].cte;
	return CTE_OTHER;
}

const char *
cte_name(enum cte c)
{
	for (size_t i = 0; i < sizeof(cte_names) / sizeof(cte_names[0]); i++)
		if (cte_names[i].cte == c)
			return cte_names[i].name;
	return "x-unknown";
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Quoted-printable output is built in a stack buffer and appended in
 * chunks: appending octet by octet made the encoder a tenth of the rewrite
 * time, and the decoder appends a byte per "=XX". */
struct qp_out {
	char buf[4096];
	size_t n;
	struct mbuf *out;
};

static int
qp_flush(struct qp_out *q)
{
	int rc = q->n > 0 ? mbuf_append(q->out, q->buf, q->n) : 0;

	q->n = 0;
	return rc;
}

/* Appends n octets through the buffer; long runs go straight to out. */
static int
qp_put(struct qp_out *q, const char *data, size_t n)
{
	if (q->n + n > sizeof(q->buf)) {
		if (qp_flush(q) < 0)
			return -1;
		if (n > sizeof(q->buf))
			return mbuf_append(q->out, data, n);
	}
	memcpy(q->buf + q->n, data, n);
	q->n += n;
	return 0;
}

int
qp_decode(const char *in, size_t len, struct mbuf *out)
{
	struct qp_out q = { .n = 0, .out = out };
	size_t i = 0, run = 0;

	while (i < len) {
		const char *eq = memchr(in + i, '=', len - i);
		if (eq == NULL)
			break;
		i = (size_t)(eq - in);
		if (qp_put(&q, in + run, i - run) < 0)
			return -1;
		/* A soft line break: "=" then optional blanks then the line end. */
		size_t j = i + 1;
		while (j < len && (in[j] == ' ' || in[j] == '\t'))
			j++;
		if (j == len || in[j] == '\n' || (in[j] == '\r' && j + 1 < len && in[j + 1] == '\n')) {
			if (j < len)
				j += in[j] == '\r' ? 2 : 1;
			i = run = j;
			continue;
		}
		int hi = i + 1 < len ? hexval((unsigned char)in[i + 1]) : -1;
		int lo = i + 2 < len ? hexval((unsigned char)in[i + 2]) : -1;
		if (hi >= 0 && lo >= 0) {
			char c = (char)(hi << 4 | lo);
			if (qp_put(&q, &c, 1) < 0)
				return -1;
			i = run = i + 3;
		} else {
			/* RFC 2045 6.7 (1): keep a malformed sequence literally. */
			i++;
			run = i - 1;
		}
	}
	if (qp_flush(&q) < 0)
		return -1;
	return mbuf_append(out, in + run, len - run);
}

int
b64_decode(const char *in, size_t len, struct mbuf *out)
{
	size_t max = len / 4 * 3 + 3, bin_len = 0;
	const char *end = NULL;
	unsigned char *bin;
	int rc;

	if ((bin = malloc(max)) == NULL)
		return -1;
	/* libsodium rejects data after the padding and any character outside
	 * the alphabet other than the white space we name. */
	if (sodium_base642bin(bin, max, in, len, " \t\r\n", &bin_len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != in + len) {
		free(bin);
		return -1;
	}
	rc = mbuf_append(out, bin, bin_len);
	free(bin);
	return rc;
}

static int
qp_must_encode(unsigned char c)
{
	return c == '=' || c < 32 || c > 126;
}

/* in[i] is written as it is when it is not at the start of a line and
 * the line has room: a printable other than "=", or a blank that no line
 * end follows. */
static inline bool
qp_literal(const char *in, size_t len, size_t i)
{
	unsigned char c = (unsigned char)in[i];

	if (c > ' ' && c < 127)
		return c != '=';
	return c == ' ' && i + 1 < len && in[i + 1] != '\n' && in[i + 1] != '\r';
}

/* The octets qp_literal() passes wherever they stand: '!' to '~' but '='. */
static const bool qp_printable[256] = { ['!' ... '<'] = true, ['>' ... '~'] = true };

int
qp_encode(const char *in, size_t len, const char *eol, struct mbuf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t eol_len = strlen(eol);
	/* The most one input octet writes: "=" eol "=XX". */
	size_t room = eol_len + 4;
	struct qp_out q = { .n = 0, .out = out };
	size_t col = 0;

	if (room > sizeof(q.buf))
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (q.n + room > sizeof(q.buf) && qp_flush(&q) < 0)
			return -1;
		/* Most octets are printable and fit on the line (col + 1 <= 75):
		 * they are written as they are, as the checks below would decide,
		 * a run at a time. */
		if (col < 75 && qp_literal(in, len, i) && (c != '.' || col > 0)) {
			size_t end = i + (75 - col), j = i + 1;
			if (end > len)
				end = len;
			if (end - i > sizeof(q.buf) - q.n)
				end = i + (sizeof(q.buf) - q.n);
			/* The run is measured first (printables by table) and
			 * copied at once. */
			while (j < end && (qp_printable[(unsigned char)in[j]] || qp_literal(in, len, j)))
				j++;
			memcpy(q.buf + q.n, in + i, j - i);
			q.n += j - i;
			col += j - i;
			i = j - 1;
			continue;
		}
		int at_eol = (c == '\n') || (c == '\r' && i + 1 < len && in[i + 1] == '\n');
		if (at_eol) {
			memcpy(q.buf + q.n, eol, eol_len);
			q.n += eol_len;
			if (c == '\r')
				i++;
			col = 0;
			continue;
		}
		/* Blanks before a line end (or the end of the part) would be
		 * stripped by transports: encode them. */
		int next_is_eol = i + 1 == len || in[i + 1] == '\n' ||
		    (in[i + 1] == '\r' && i + 2 < len && in[i + 2] == '\n');
		int encode = qp_must_encode(c) && !(c == '\t' && !next_is_eol);
		if ((c == ' ' || c == '\t') && next_is_eol)
			encode = 1;
		/* A "." alone at the start of a line is safe in SMTP, but encoding
		 * it costs nothing and spares naive relays. */
		if (c == '.' && col == 0)
			encode = 1;
		size_t width = encode ? 3 : 1;
		/* Keep room for the "=" of a soft break: at most 76 octets. The
		 * last character of a line needs no room when the line ends. */
		size_t limit = next_is_eol ? 76 : 75;
		if (col + width > limit) {
			q.buf[q.n++] = '=';
			memcpy(q.buf + q.n, eol, eol_len);
			q.n += eol_len;
			col = 0;
			if (c == '.')
				encode = 1, width = 3;
		}
		if (encode) {
			q.buf[q.n++] = '=';
			q.buf[q.n++] = hex[c >> 4];
			q.buf[q.n++] = hex[c & 15];
		} else {
			q.buf[q.n++] = (char)c;
		}
		col += width;
	}
	return qp_flush(&q);
}

int
b64_encode(const char *in, size_t len, const char *eol, struct mbuf *out)
{
	/* 57 input octets make one 76-character line. */
	char line[sodium_base64_ENCODED_LEN(57, sodium_base64_VARIANT_ORIGINAL)];

	for (size_t off = 0; off < len; off += 57) {
		size_t n = len - off < 57 ? len - off : 57;
		sodium_bin2base64(line, sizeof(line), (const unsigned char *)in + off, n,
				  sodium_base64_VARIANT_ORIGINAL);
		if (mbuf_puts(out, line) < 0 || mbuf_puts(out, eol) < 0)
			return -1;
	}
	return 0;
}
