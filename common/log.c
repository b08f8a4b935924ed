/* log: one logging front end for the daemons (syslog, mail facility, so the
 * lines land next to Postfix's) and for commands and foreground runs
 * (stderr, "progname: message"). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static const char *log_progname = "mailbeacon";
static int log_stderr = 1;
static enum log_level log_level = LOG_LEVEL_INFO;

void
log_init(const char *progname, int to_stderr)
{
	if (progname != NULL)
		log_progname = progname;
	log_stderr = to_stderr;
	if (!log_stderr)
		openlog(log_progname, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

/* with_errno: ": " and strerror of errno (as it was on the call) follow. */
static void
log_vwrite(int pri, bool with_errno, const char *fmt, va_list ap)
{
	char buf[2048], *msg = buf, *big;
	const char *sep = with_errno ? ": " : "";
	const char *why;
	int saved = errno, n;
	va_list again;

	why = with_errno ? strerror(saved) : "";
	/* Formatting once keeps a stderr line in one write. A longer message
	 * (a command's error naming a 4 KB URL or path) is not cut: it gets
	 * a buffer of its own. */
	va_copy(again, ap);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n >= (int)sizeof(buf) && (big = malloc((size_t)n + 1)) != NULL) {
		vsnprintf(big, (size_t)n + 1, fmt, again);
		msg = big;
	}
	va_end(again);
	if (log_stderr)
		fprintf(stderr, "%s: %s%s%s\n", log_progname, msg, sep, why);
	else
		syslog(pri, "%s%s%s", msg, sep, why);
	if (msg != buf)
		free(msg);
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	if (log_level < LOG_LEVEL_INFO)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_INFO, false, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	if (log_level < LOG_LEVEL_WARNING)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, false, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	if (log_level < LOG_LEVEL_WARNING)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, true, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_level < LOG_LEVEL_DEBUG)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, false, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, false, fmt, ap);
	va_end(ap);
	exit(2);
}

void
fatal_errno(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, true, fmt, ap);
	va_end(ap);
	exit(2);
}
