/* undo: the check the rewrite and HTML fuzz targets share: undoing each edit
 * (pixel, footer, a URL in place of an href value or of a URL in text, an
 * earlier artefact of ours neutralised) must
 * give the original text back; otherwise it says where the two differ. */
#ifndef MB_FUZZ_UNDO_H
#define MB_FUZZ_UNDO_H
#include <stdbool.h>
#include <stddef.h>

#define UNDO_MAX_INSERTS 2

struct undo_walk {
	const char *in, *out;
	size_t in_len, out_len;
	/* Inserted texts, each counted where the output has it and the input
	 * does not. */
	const char *insert[UNDO_MAX_INSERTS];
	unsigned inserted[UNDO_MAX_INSERTS];
	/* Replacement URLs start with this prefix (url_prefix_len octets, or
	 * strlen when 0: a NUL in it makes a prefix no input can contain). */
	const char *url_prefix;
	size_t url_prefix_len;
	/* The length of the replacement URL at s (which starts with the
	 * prefix), or 0 when it is not a well-formed one. */
	size_t (*url_len)(void *arg, const char *s, size_t n);
	/* Where the input text that the URL replaced ends, given that it
	 * starts at in + i and that next is the output octet after the URL
	 * (-1 at the end); (size_t)-1 when no input text can end there. */
	size_t (*orig_end)(void *arg, size_t i, int next);
	/* Whether the URL stands for that input text; sets why when not. */
	bool (*url_matches)(void *arg, const char *url, size_t url_len, size_t orig,
			    size_t orig_len, const char **why);
	/* Earlier artefacts the rewrite neutralised (an old pixel's or opt-out
	 * link's URL blanked or replaced by a notice): called where in + i and
	 * out + j differ; true, with where the input's artefact and the
	 * output's replacement end, when that is one. NULL: there are none. */
	bool (*neutralised)(void *arg, size_t i, size_t j, size_t *in_end, size_t *out_end);
	void *arg;
	unsigned urls;		/* replacements undone */
	unsigned removed;	/* neutralised artefacts undone */
	char why[200];		/* the first difference, when undo_run fails */
};

/* Returns true when undoing every edit of out gives in exactly. */
bool undo_run(struct undo_walk *w);

/* Aborts with a message on stderr: an invariant of a fuzz target broke. */
void fuzz_fail(const char *target, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

struct keyring;
/* The fixed two-key keyring of the token and route targets (k2 signs). */
void fuzz_keyring(const char *target, struct keyring *kr);

#endif
