/* rewrite_diff: the driver of the rewrite differential test
 * (run-rewritediff.sh). The same source is linked once against the rewrite
 * engine of the tree and once against the engine of the base commit; both
 * print one line per rewrite (a SHA-256 of everything the rewrite decided
 * and of the delivered message) and the script demands identical output.
 *
 *   rewrite_diff [--dict FILE]... [--mutations N] [--emit K] FILE...
 *
 * Each FILE is rewritten under every parameter variant below (one over
 * 64 KiB, from the hostile set, under the first two: those take most of
 * the time, the more so under ASan). Then N
 * inputs are made by seeded mutations (byte changes, dictionary tokens,
 * deleted, repeated and spliced ranges) of the FILEs under 64 KiB, and
 * each is rewritten under one variant. The generator is this file's own
 * code, so both builds see the same inputs. --emit K writes mutation K to
 * stdout instead (to look at a difference). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "footer.h"
#include "keyring.h"
#include "mbuf.h"
#include "policy.h"
#include "rewrite.h"

#define MUTATE_MAX_INPUT (64 * 1024)
#define MAX_DICT 4096

/* Footer templates with what the defaults lack: non-ASCII text, braces
 * that are no placeholder, CR LF and LF line breaks. */
static const char custom_html[] =
	"<p>Caf\xc3\xa9 {sender} \xe2\x80\x93 {tracked}. {unknown} {x <a href=\"{optout_url}\">Stop</a>\r\n"
	"<a href='{privacy_url}'>Privacy \xe2\x9c\x93</a> {} }{</p>\n";
static const char custom_text[] =
	"Na\xc3\xafve {sender}\r\n{optout_url}\n{privacy_url} {nope} }{ \xf0\x9f\x93\xa7\n";

/* The settings the engine reads, in four combinations that reach its
 * branches: the pixel at the bottom or top, text clicks, receipts, a
 * footer-only rule, the default and other footers. */
static const struct variant {
	unsigned words;
	bool pixel_top;
	const char *footer_html, *footer_text;
} variants[] = {
	{ POLICY_OPENS | POLICY_CLICKS | POLICY_FOOTER, false, footer_default_html, footer_default_text },
	{ POLICY_OPENS | POLICY_CLICKS | POLICY_TEXT_CLICKS | POLICY_FOOTER, true, custom_html, custom_text },
	{ POLICY_CLICKS | POLICY_TEXT_CLICKS | POLICY_RECEIPT | POLICY_FOOTER, false, footer_default_html,
	  footer_default_text },
	{ POLICY_FOOTER, false, custom_html, custom_text },
};
#define N_VARIANTS (sizeof(variants) / sizeof(variants[0]))

/* Tokens added to the dictionaries: the beacon URL of the parameters
 * (earlier pixels and opt-out links, spelt as browsers still read them)
 * and the inline styles that hide an element, which the corpus has few of. */
static const char *const own_tokens[] = {
	"https://t.example.com/o/", "https://t.example.com/u/", "https://t.example.com/a/",
	"<img src=\"&#104;ttps://t.example.com/o/x.gif\">",
	"<a href=\"https:&#x2F;&#47;t.example.com/u/y\">out</a>",
	"<a href=' \thttps://T.Example.COM/a/z'>ok</a>", "<img src=https://t.exa\nmple.com/o/w>",
	"<a href=\"&#x68;ttps://t.example.org/u/y\">x</a>", "https://t.example.com/c/",
	"<img src=\"", "<a href=\"", "<area href=", "&amp;", "=\r\n", "=3D",
	" style=\"display:none\"", " style=\"DISPLAY : none !important\"",
	" style=\"font-size:0\"", " style=\"font-size: 0.5PX\"", " style='opacity:0.05'",
	" style=\"overflow:hidden;max-height:0\"", " style=\"overflow-x:clip;width:0px\"",
	" style='mso-hide:all'", " style=\"visibility:hidden\"", " style=\"color:red;/*x*/\"",
	" hidden", "<details>", "<![if !mso]>", "<![endif]>", "<base href=\"https://b.example/d/\">",
};

static struct keyring keys;

struct input {
	char *data;
	size_t len;
};

static struct input *files;
static size_t n_files;
static struct input dict[MAX_DICT];
static size_t n_dict;

static uint64_t rng = 0x243f6a8885a308d3ull;	/* fixed: the inputs must repeat */

static uint32_t
rnd(uint32_t below)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return below ? (uint32_t)((rng >> 16) % below) : 0;
}

static int
read_file(const char *path, struct input *in)
{
	FILE *f = fopen(path, "rb");
	struct mbuf b;
	char chunk[65536];
	size_t n;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	mbuf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		mbuf_append(&b, chunk, n);
	fclose(f);
	if (b.failed)
		return -1;
	in->data = mbuf_steal(&b, &in->len);
	return in->data ? 0 : -1;
}

static int
hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A libFuzzer dictionary: one "token" a line (\xNN, \\ and \" escapes),
 * optionally after name=; '#' starts a comment line. */
static int
read_dict(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096];

	if (f == NULL) {
		perror(path);
		return -1;
	}
	while (fgets(line, sizeof(line), f) && n_dict < MAX_DICT) {
		char *q = strchr(line, '"'), *e = strrchr(line, '"');
		if (line[0] == '#' || q == NULL || e == q)
			continue;
		struct mbuf t;
		mbuf_init(&t);
		for (char *p = q + 1; p < e; p++) {
			if (*p == '\\' && p[1] == 'x' && hexval(p[2]) >= 0 && hexval(p[3]) >= 0) {
				mbuf_putc(&t, hexval(p[2]) * 16 + hexval(p[3]));
				p += 3;
			} else if (*p == '\\' && p + 1 < e) {
				mbuf_putc(&t, *++p);
			} else {
				mbuf_putc(&t, *p);
			}
		}
		if (t.len > 0 && !t.failed)
			dict[n_dict].data = mbuf_steal(&t, &dict[n_dict].len), n_dict++;
		else
			mbuf_free(&t);
	}
	fclose(f);
	return 0;
}

/* One mutation of m, in place. */
static void
mutate_once(struct mbuf *m)
{
	size_t pos = m->len ? rnd((uint32_t)m->len + 1) : 0;
	struct mbuf out;

	mbuf_init(&out);
	mbuf_append(&out, m->data, pos);
	switch (rnd(6)) {
	case 0:		/* one octet changed */
		if (pos < m->len) {
			mbuf_putc(&out, (int)rnd(256));
			pos++;
		}
		break;
	case 1:		/* a dictionary token */
		if (n_dict > 0) {
			const struct input *t = &dict[rnd((uint32_t)n_dict)];
			mbuf_append(&out, t->data, t->len);
		}
		break;
	case 2:		/* a range deleted */
		pos += rnd(64);
		if (pos > m->len)
			pos = m->len;
		break;
	case 3: {	/* a range of the input repeated */
		size_t from = m->len ? rnd((uint32_t)m->len) : 0, n = rnd(256);
		if (from + n > m->len)
			n = m->len - from;
		mbuf_append(&out, m->data + from, n);
		break;
	}
	case 4: {	/* a range of another file */
		const struct input *o = &files[rnd((uint32_t)n_files)];
		size_t from = o->len ? rnd((uint32_t)o->len) : 0, n = rnd(512);
		if (from + n > o->len)
			n = o->len - from;
		mbuf_append(&out, o->data + from, n);
		break;
	}
	default:	/* a few random octets */
		for (uint32_t k = rnd(8) + 1; k > 0; k--)
			mbuf_putc(&out, (int)rnd(256));
		break;
	}
	mbuf_append(&out, m->data + pos, m->len - pos);
	mbuf_free(m);
	*m = out;
}

/* The next mutated input: one of the small files, changed 1 to 6 times. */
static int
next_mutation(const size_t *small, size_t n_small, struct mbuf *m)
{
	const struct input *base = &files[small[rnd((uint32_t)n_small)]];

	mbuf_reset(m);
	mbuf_append(m, base->data, base->len);
	for (uint32_t k = rnd(6) + 1; k > 0; k--)
		mutate_once(m);
	return m->failed ? -1 : 0;
}

static void
hash_str(crypto_hash_sha256_state *h, const char *s)
{
	crypto_hash_sha256_update(h, (const unsigned char *)s, strlen(s) + 1);
}

static void
hash_num(crypto_hash_sha256_state *h, unsigned long long v)
{
	char n[32];

	snprintf(n, sizeof(n), "%llu", v);
	hash_str(h, n);
}

/* Rewrites msg under variant v and prints its digest after label. */
static int
rewrite_one(const char *label, const char *msg, size_t len, const struct variant *v)
{
	struct rewrite_params p = {
		.beacon_url = "https://t.example.com",
		.privacy_url = "https://t.example.com/privacy",
		.max_message_size = 32u << 20,
		.pixel_top = v->pixel_top,
		.keys = &keys,
		.words = v->words,
		.sender = "alice@example.com",
		.footer_html = v->footer_html,
		.footer_text = v->footer_text,
		.now = 1700000000,
		.msgid = "diffdiffdiffdiffdiffAA",
	};
	struct rewrite_result res;
	struct mbuf out;
	crypto_hash_sha256_state h;
	unsigned char digest[crypto_hash_sha256_BYTES];
	char hex[2 * sizeof(digest) + 1];

	int rc = rewrite_message(&p, msg, len, &res);
	crypto_hash_sha256_init(&h);
	hash_num(&h, (unsigned long long)(rc + 1));
	hash_num(&h, res.edited);
	hash_str(&h, res.reason);
	hash_str(&h, res.msgid);
	hash_num(&h, (unsigned long long)res.sent);
	hash_num(&h, res.words_applied);
	hash_num(&h, res.n_long_links);
	hash_num(&h, res.n_links);
	for (size_t i = 0; i < res.n_links; i++) {
		hash_num(&h, res.links[i].num);
		hash_str(&h, res.links[i].url);
	}
	mbuf_init(&out);
	hash_num(&h, (unsigned long long)(rewrite_apply(msg, len, &res, &out) + 1));
	crypto_hash_sha256_update(&h, (const unsigned char *)(out.data ? out.data : ""), out.len);
	crypto_hash_sha256_final(&h, digest);
	sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
	printf("%s %s %d %zu\n", label, hex, res.edited, res.n_links);
	mbuf_free(&out);
	rewrite_result_free(&res);
	return 0;
}

int
main(int argc, char **argv)
{
	long mutations = 0, emit = -1;
	char err[256], label[4200];

	if (sodium_init() < 0)
		return 2;
	if (keyring_parse("diff-keys", "k1 c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMjM0NTY3OA\n",
			  &keys, err, sizeof(err)) < 0) {
		fprintf(stderr, "rewrite_diff: %s\n", err);
		return 2;
	}
	for (size_t i = 0; i < sizeof(own_tokens) / sizeof(*own_tokens); i++) {
		dict[n_dict].len = strlen(own_tokens[i]);
		if ((dict[n_dict++].data = strdup(own_tokens[i])) == NULL)
			return 2;
	}
	files = calloc((size_t)argc, sizeof(*files));
	if (files == NULL)
		return 2;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dict") == 0 && i + 1 < argc) {
			if (read_dict(argv[++i]) < 0)
				return 2;
		} else if (strcmp(argv[i], "--mutations") == 0 && i + 1 < argc) {
			mutations = atol(argv[++i]);
		} else if (strcmp(argv[i], "--emit") == 0 && i + 1 < argc) {
			emit = atol(argv[++i]);
		} else if (read_file(argv[i], &files[n_files]) < 0) {
			return 2;
		} else {
			n_files++;
		}
	}
	size_t *small = calloc(n_files + 1, sizeof(*small)), n_small = 0;
	if (small == NULL)
		return 2;
	for (size_t i = 0; i < n_files; i++)
		if (files[i].len <= MUTATE_MAX_INPUT)
			small[n_small++] = i;
	if (emit < 0) {
		for (size_t i = 0; i < n_files; i++)
			for (size_t v = 0; v < (files[i].len > MUTATE_MAX_INPUT ? 2 : N_VARIANTS); v++) {
				snprintf(label, sizeof(label), "file%zu/v%zu", i, v);
				rewrite_one(label, files[i].data, files[i].len, &variants[v]);
			}
	}
	struct mbuf m;
	mbuf_init(&m);
	for (long k = 0; k < mutations && n_small > 0; k++) {
		if (next_mutation(small, n_small, &m) < 0)
			return 2;
		if (k == emit) {
			fwrite(m.data, 1, m.len, stdout);
			break;
		}
		if (emit < 0) {
			snprintf(label, sizeof(label), "mut%ld/v%zu", k, (size_t)k % N_VARIANTS);
			rewrite_one(label, m.data, m.len, &variants[(size_t)k % N_VARIANTS]);
		}
	}
	mbuf_free(&m);
	for (size_t i = 0; i < n_files; i++)
		free(files[i].data);
	for (size_t i = 0; i < n_dict; i++)
		free(dict[i].data);
	free(files);
	free(small);
	keyring_free(&keys);
	return fflush(stdout) == 0 ? 0 : 2;
}
