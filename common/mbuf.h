/* mbuf: a growable byte buffer used for every output the rewrite engine and
 * the programs build. Appends fail (return -1) instead of aborting, so the
 * milter can deliver a message untouched when memory runs out. */
#ifndef MB_MBUF_H
#define MB_MBUF_H
#include <stddef.h>

struct mbuf {
	char *data;	/* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	int failed;	/* set once an append ran out of memory */
};

void mbuf_init(struct mbuf *b);
void mbuf_free(struct mbuf *b);
void mbuf_reset(struct mbuf *b);
/* Makes room for extra more bytes (and the NUL) in one allocation: a
 * caller that knows about how much it will append spares the copies of
 * growing by doubling. -1 (and failed set) when out of memory. */
int mbuf_reserve(struct mbuf *b, size_t extra);
int mbuf_append(struct mbuf *b, const void *data, size_t len);
int mbuf_puts(struct mbuf *b, const char *s);
int mbuf_putc(struct mbuf *b, int c);
int mbuf_printf(struct mbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends everything read from fd, up to max bytes; -1 with errno set on a
 * read error, on out of memory, or (EFBIG) when the input is longer. */
int mbuf_read_fd(struct mbuf *b, int fd, size_t max);
/* Hands the contents to the caller (free() it) and leaves b empty. */
char *mbuf_steal(struct mbuf *b, size_t *len);

#endif
