/* Logging for all mailbeacon programs: syslog (mail facility) for daemons,
 * stderr when running in the foreground or as a command. */
#ifndef MB_LOG_H
#define MB_LOG_H

void log_init(const char *progname, int to_stderr);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_set_debug(int on);
/* Logs and exits with status 2 (runtime error). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
