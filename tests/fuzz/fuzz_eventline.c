/* fuzz_eventline: libFuzzer target for eventline_decode(), the reader of
 * another host's events API lines. Whatever it accepts must encode again,
 * decode to the same event, and encode to the same line (one canonical form). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "eventline.h"
#include "mbuf.h"
#include "undo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
same_string(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
same_event(const struct eventline *a, const struct eventline *b)
{
	const struct store_event *x = &a->ev, *y = &b->ev;

	return a->cursor == b->cursor && same_string(x->message_id, y->message_id) &&
	    same_string(x->kind, y->kind) && x->link == y->link && x->time == y->time &&
	    same_string(x->ip_masked, y->ip_masked) &&
	    same_string(x->client_class, y->client_class) &&
	    same_string(x->verdict, y->verdict) && x->dnt == y->dnt &&
	    (x->recipient_hash == NULL) == (y->recipient_hash == NULL) &&
	    (x->recipient_hash == NULL ||
	     memcmp(x->recipient_hash, y->recipient_hash, STORE_HASH_LEN) == 0);
}

/* Encodes l's event into b: one line, ending in its only newline. */
static void
encode(const struct eventline *l, struct mbuf *b)
{
	if (eventline_encode(b, l->cursor, &l->ev) != 0)
		fuzz_fail("eventline", "an accepted line does not encode");
	if (b->len < 2 || b->data[b->len - 1] != '\n' || memchr(b->data, '\n', b->len - 1))
		fuzz_fail("eventline", "the encoding is not one line");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eventline *first = malloc(sizeof(*first)), *second = malloc(sizeof(*second));
	struct mbuf once, twice;
	char why[256];

	if (first == NULL || second == NULL)
		abort();
	mbuf_init(&once);
	mbuf_init(&twice);
	if (eventline_decode((const char *)data, size, first, why, sizeof(why)) == 0) {
		encode(first, &once);
		if (eventline_decode(once.data, once.len - 1, second, why, sizeof(why)) != 0)
			fuzz_fail("eventline", "its own encoding is refused: %s", why);
		if (!same_event(first, second))
			fuzz_fail("eventline", "decode, encode, decode changed the event");
		encode(second, &twice);
		if (once.len != twice.len || memcmp(once.data, twice.data, once.len) != 0)
			fuzz_fail("eventline", "the same event encoded two ways");
	} else if (why[0] == '\0') {
		fuzz_fail("eventline", "refused without a reason");
	}
	mbuf_free(&once);
	mbuf_free(&twice);
	free(first);
	free(second);
	return 0;
}
