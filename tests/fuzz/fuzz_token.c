/* fuzz_token: libFuzzer target for token_verify() with a fixed keyring. A path
 * that verifies is exactly what token_format writes; a formatted token always
 * verifies, and with any one octet changed (or the last dropped) never does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "b64url.h"
#include "keyring.h"
#include "mbuf.h"
#include "token.h"
#include "undo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keyring keys;

static void
setup(void)
{
	fuzz_keyring("token", &keys);
}

/* A path that verifies under the signing key is canonical: formatting
 * what it says gives it back octet for octet. */
static void
verify_arbitrary(const char *path, size_t len)
{
	struct token t;
	struct mbuf again;

	if (token_verify(&keys, path, len, &t) != TOKEN_OK)
		return;
	mbuf_init(&again);
	if (strcmp(t.kid, keys.keys[0].id) == 0 &&
	    (token_format(&keys, &t, &again) < 0 || again.len != len ||
	     memcmp(again.data, path, len) != 0))
		fuzz_fail("token", "a verified path is not what token_format writes for it");
	mbuf_free(&again);
	token_clear(&t);
}

static bool
same_fields(const struct token *a, const struct token *b)
{
	return a->kind == b->kind && strcmp(a->msgid, b->msgid) == 0 && a->sent == b->sent &&
	    strcmp(a->kid, b->kid) == 0 &&
	    (a->kind != TOKEN_CLICK ||
	     (a->link == b->link && a->dest_len == b->dest_len &&
	      memcmp(a->dest, b->dest, a->dest_len) == 0));
}

static void
round_trip(const uint8_t *data, size_t size)
{
	static const enum token_kind kinds[] = { TOKEN_OPEN, TOKEN_CLICK, TOKEN_OPTOUT };
	uint8_t head[32] = { 0 };
	struct token t, got;
	struct mbuf id, path;

	/* The first 32 octets choose the fields; the rest is the destination. */
	memcpy(head, data, size < sizeof(head) ? size : sizeof(head));
	memset(&t, 0, sizeof(t));
	t.kind = kinds[head[0] % 3];
	mbuf_init(&id);
	b64url_encode(head + 1, MSGID_BYTES, &id);
	snprintf(t.msgid, sizeof(t.msgid), "%s", id.data ? id.data : "");
	mbuf_free(&id);
	memcpy(&t.sent, head + 17, sizeof(t.sent));
	unsigned link;
	memcpy(&link, head + 25, sizeof(link));
	/* dest is a C string (token_format takes strlen when dest_len is 0). */
	char *dest = strndup(size > 32 ? (const char *)data + 32 : "", size > 32 ? size - 32 : 0);
	if (dest == NULL)
		return;
	if (t.kind == TOKEN_CLICK) {
		t.link = link;
		t.dest = dest;
		t.dest_len = size > 32 ? size - 32 : 0;
	}
	mbuf_init(&path);
	if (token_format(&keys, &t, &path) < 0) {
		mbuf_free(&path);
		free(dest);
		return;		/* fields token_format refuses */
	}
	if (token_verify(&keys, path.data, path.len, &got) != TOKEN_OK || !same_fields(&t, &got))
		fuzz_fail("token", "a formatted token does not verify to its fields: %s", path.data);
	token_clear(&got);
	/* Every position on short paths, 64 spread over long ones. */
	size_t step = path.len > 64 ? path.len / 64 : 1;
	for (size_t k = head[29] % step; k < path.len; k += step) {
		char was = path.data[k];
		path.data[k] = (char)(was ^ (head[30] | 1));
		if (token_verify(&keys, path.data, path.len, &got) == TOKEN_OK)
			fuzz_fail("token", "a path changed at octet %zu still verifies", k);
		token_clear(&got);
		path.data[k] = was;
	}
	if (token_verify(&keys, path.data, path.len - 1, &got) == TOKEN_OK)
		fuzz_fail("token", "a path without its last octet still verifies");
	token_clear(&got);
	mbuf_free(&path);
	free(dest);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;

	if (!ready) {
		setup();
		ready = true;
	}
	verify_arbitrary((const char *)data, size);
	round_trip(data, size);
	return 0;
}
