/* fileline: the one "FILE:LINE: reason" form of every message that points
 * into a file (mailbeacon.conf, the key file, the policy), so an editor or
 * grep can jump to the line whichever program reports it. */
#ifndef MB_FILELINE_H
#define MB_FILELINE_H
#include <stdarg.h>
#include <stddef.h>

/* Writes "PATH:LINE: reason" into out, or "PATH: reason" when line is 0 or
 * less (a fault of the whole file: missing, empty, unreadable). The reason
 * is fmt with its arguments; out is always terminated (nothing is written
 * when out is NULL or outlen is 0). Returns -1, so that a parser can
 * "return fileline_format(err, errlen, path, line, "bad %s", what);". */
int fileline_format(char *out, size_t outlen, const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void fileline_vformat(char *out, size_t outlen, const char *path, int line, const char *fmt,
		      va_list ap) __attribute__((format(printf, 5, 0)));

#endif
