/* mime: parses a whole message (CRLF or LF) into a tree of parts kept as
 * byte ranges of the input, with hard limits on nesting, part count, header
 * size and boundary length. Nothing is copied or re-serialised here. */
#ifndef MB_MIME_H
#define MB_MIME_H
#include <stdbool.h>
#include <stddef.h>
#include "codec.h"

#define MIME_MAX_DEPTH 16		/* nested multiparts */
#define MIME_MAX_PARTS 500
#define MIME_MAX_BOUNDARY 70		/* RFC 2046 5.1.1 */
#define MIME_MAX_TOP_HEADER (1024 * 1024)
#define MIME_MAX_PART_HEADER (64 * 1024)

struct mime_part {
	size_t start;		/* first octet of the header block */
	size_t hdr_end;		/* end of the header block (the empty line) */
	size_t body_start;
	size_t body_end;	/* excludes the line break before a delimiter */
	char type[32];		/* lower case; text/plain when absent */
	char subtype[64];
	char charset[48];	/* "" when absent */
	char boundary[MIME_MAX_BOUNDARY + 1];
	char start_id[128];	/* multipart/related "start", no <> */
	char content_id[128];
	char smime_type[32];
	enum cte cte;
	char cte_raw[32];	/* as written, for error messages */
	bool has_cte;
	bool attachment;	/* Content-Disposition: attachment */
	bool flowed;		/* format=flowed (RFC 3676) */
	bool delsp;		/* delsp=yes: a soft break's space is not text */
	int depth;
	int parent, first_child, next_sibling;	/* indices, -1 = none */
};

struct mime_message {
	const char *msg;
	size_t len;
	const char *eol;	/* "\r\n" or "\n", from the first line */
	struct mime_part *parts;	/* parts[0] is the message itself */
	size_t n;
	size_t cap;
	bool has_dkim_signature;
	char *list_unsubscribe;	/* unfolded value, or NULL */
	char reason[160];	/* why mime_parse refused the message */
};

/* Returns 0, or -1 with m->reason ("mime: ..." or "out of memory"). */
int mime_parse(const char *msg, size_t len, struct mime_message *m);
void mime_free(struct mime_message *m);

/* Iterates the header fields of [start, end): sets name/value ranges (value
 * unfolded only by the caller) and returns the offset after the field, or
 * 0 at the end. */
size_t mime_next_header(const char *msg, size_t pos, size_t end,
			size_t *name, size_t *name_len, size_t *value, size_t *value_len);

#endif
