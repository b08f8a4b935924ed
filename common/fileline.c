/* fileline: formats the "FILE:LINE: reason" of the configuration, key file
 * and policy parsers' errors and of the milter's policy log lines. */
#include <stdio.h>

#include "fileline.h"

void
fileline_vformat(char *out, size_t outlen, const char *path, int line, const char *fmt,
		 va_list ap)
{
	char reason[1024];

	if (out == NULL || outlen == 0)
		return;
	vsnprintf(reason, sizeof(reason), fmt, ap);
	if (line > 0)
		snprintf(out, outlen, "%s:%d: %s", path, line, reason);
	else
		snprintf(out, outlen, "%s: %s", path, reason);
}

int
fileline_format(char *out, size_t outlen, const char *path, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fileline_vformat(out, outlen, path, line, fmt, ap);
	va_end(ap);
	return -1;
}
