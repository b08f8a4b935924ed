/* undo: walks an edited text against its original, undoing the rewriter's
 * edits; any other difference is a broken invariant. An edit counts only where
 * the output has it and the input does not: look-alike input matches as is. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "keyring.h"
#include "undo.h"

static bool
has_at(const char *s, size_t n, size_t at, const char *pat, size_t plen)
{
	return at <= n && plen <= n - at && memcmp(s + at, pat, plen) == 0;
}

static bool
differ(struct undo_walk *w, size_t i, size_t j, const char *what)
{
	size_t ia = i > 20 ? i - 20 : 0, ja = j > 20 ? j - 20 : 0;
	int il = (int)(w->in_len - ia < 40 ? w->in_len - ia : 40);
	int jl = (int)(w->out_len - ja < 40 ? w->out_len - ja : 40);

	snprintf(w->why, sizeof(w->why), "%s at input %zu \"%.*s\" / output %zu \"%.*s\"",
		 what, i, il, w->in + ia, j, jl, w->out + ja);
	return false;
}

bool
undo_run(struct undo_walk *w)
{
	size_t i = 0, j = 0, plen = w->url_prefix_len;

	if (plen == 0 && w->url_prefix != NULL)
		plen = strlen(w->url_prefix);

	w->urls = 0;
	w->removed = 0;
	memset(w->inserted, 0, sizeof(w->inserted));
	while (j < w->out_len) {
		bool undone = false;
		for (int k = 0; k < UNDO_MAX_INSERTS && !undone; k++) {
			const char *ins = w->insert[k];
			size_t il = ins ? strlen(ins) : 0;
			if (il > 0 && has_at(w->out, w->out_len, j, ins, il) &&
			    !has_at(w->in, w->in_len, i, ins, il)) {
				w->inserted[k]++;
				j += il;
				undone = true;
			}
		}
		if (undone)
			continue;
		if (plen > 0 && has_at(w->out, w->out_len, j, w->url_prefix, plen)) {
			size_t ul = w->url_len(w->arg, w->out + j, w->out_len - j);
			if (ul > 0 && !has_at(w->in, w->in_len, i, w->out + j, ul)) {
				int next = j + ul < w->out_len ? (unsigned char)w->out[j + ul] : -1;
				size_t e = w->orig_end(w->arg, i, next);
				const char *why = "";
				if (e == (size_t)-1 || e < i || e > w->in_len)
					return differ(w, i, j, "a URL that replaced no input text");
				if (!w->url_matches(w->arg, w->out + j, ul, i, e - i, &why))
					return differ(w, i, j, why);
				w->urls++;
				i = e;
				j += ul;
				continue;
			}
		}
		if (i < w->in_len && w->in[i] == w->out[j]) {
			i++;
			j++;
			continue;
		}
		size_t ie, oe;
		if (w->neutralised != NULL && w->neutralised(w->arg, i, j, &ie, &oe) &&
		    ie > i && ie <= w->in_len && oe >= j && oe <= w->out_len) {
			w->removed++;
			i = ie;
			j = oe;
			continue;
		}
		return differ(w, i, j, i < w->in_len ? "an unexplained difference"
			      : "output left over");
	}
	if (i != w->in_len)
		return differ(w, i, j, "the output ends before the input");
	return true;
}

void
fuzz_fail(const char *target, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: invariant broken: ", target);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void
fuzz_keyring(const char *target, struct keyring *kr)
{
	char err[200];

	if (keyring_parse("fuzz-keys", "k2 hA3U9ZBepWgbLLlJl2Vq771n-4pdcKFocKuG6GWnorA\n"
			  "k1 TeGtFse0hHC1nAqnOSJ2_KQxhWzyrbFUYdEUo58iiiY\n", kr, err, sizeof(err)) < 0)
		fuzz_fail(target, "keyring: %s", err);
}
