/* mbuf: growable byte buffer shared by every program and the rewrite engine.
 * Out of memory is sticky (failed=1): the caller checks once at the end and
 * delivers the message untouched instead of aborting the milter. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mbuf.h"

void
mbuf_init(struct mbuf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = 0;
}

void
mbuf_free(struct mbuf *b)
{
	free(b->data);
	mbuf_init(b);
}

/* Keeps the allocation: buffers are reused per message part. */
void
mbuf_reset(struct mbuf *b)
{
	b->len = 0;
	b->failed = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

static int
mbuf_fail(struct mbuf *b)
{
	b->failed = 1;
	errno = ENOMEM;
	return -1;
}

/* Makes room for extra bytes plus the terminating NUL. */
int
mbuf_reserve(struct mbuf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (b->failed)
		return -1;
	if (extra > SIZE_MAX - b->len - 1)
		return mbuf_fail(b);
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			ncap = need;
			break;
		}
		ncap *= 2;
	}
	if ((p = realloc(b->data, ncap)) == NULL)
		return mbuf_fail(b);
	b->data = p;
	b->cap = ncap;
	return 0;
}

int
mbuf_append(struct mbuf *b, const void *data, size_t len)
{
	if (mbuf_reserve(b, len) == -1)
		return -1;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
mbuf_puts(struct mbuf *b, const char *s)
{
	return mbuf_append(b, s, strlen(s));
}

int
mbuf_putc(struct mbuf *b, int c)
{
	char ch = (char)c;

	return mbuf_append(b, &ch, 1);
}

int
mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return mbuf_fail(b);
	if (mbuf_reserve(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* An empty buffer still yields an allocated "" so callers need not check
 * for NULL on success; NULL means out of memory (or an earlier failure). */
char *
mbuf_steal(struct mbuf *b, size_t *len)
{
	char *p;

	if (b->failed) {
		mbuf_free(b);
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	if (b->data == NULL && mbuf_reserve(b, 0) == -1) {
		mbuf_free(b);
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	b->data[b->len] = '\0';
	p = b->data;
	if (len != NULL)
		*len = b->len;
	mbuf_init(b);
	return p;
}

int
mbuf_read_fd(struct mbuf *b, int fd, size_t max)
{
	char chunk[8192];
	size_t total = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;
		if ((size_t)n > max - total) {
			errno = EFBIG;
			return -1;
		}
		total += (size_t)n;
		if (mbuf_append(b, chunk, (size_t)n) == -1)
			return -1;
	}
}
