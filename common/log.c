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
	char msg[2048];
	int saved = errno;

	/* Formatting once keeps a stderr line in one write. */
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		size_t len = strlen(msg);
		snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(saved));
	}
	if (log_stderr)
		fprintf(stderr, "%s: %s\n", log_progname, msg);
	else
		syslog(pri, "%s", msg);
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
