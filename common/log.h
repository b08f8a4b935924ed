/* Logging for all mailbeacon programs: syslog (mail facility) for daemons,
 * stderr when running in the foreground or as a command. */
#ifndef MB_LOG_H
#define MB_LOG_H

/* What is logged: each level adds to the one before. error: only what
 * stops a program; warning: failures handled (mail delivered untouched);
 * info (the default): every decision about outbound mail, tracked or not;
 * debug: also inbound mail (one line a message) and other detail. */
enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_init(const char *progname, int to_stderr);
void log_set_level(enum log_level level);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warnx with ": " and strerror(errno) appended, as OpenSMTPD's log_warn. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs and exits with status 2 (runtime error). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* fatal with ": " and strerror(errno) appended. */
void fatal_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
