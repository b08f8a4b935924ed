/* Unit tests of log.c's errno variants (log_warn, fatal_errno: the message,
 * ": " and strerror of errno as it was) and of pidfile.c, on stderr and in
 * a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pidfile.h"

/* What fn(arg) writes to stderr, run in a child (fatal_errno exits);
 * *status is the child's exit status. */
static void
stderr_of(void (*fn)(int), int arg, char *out, size_t outlen, int *status)
{
	int fd[2], st;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	assert_int_equal(pipe(fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fd[1], 2);
		close(fd[0]);
		log_init("test_log", 1);
		fn(arg);
		_exit(0);
	}
	close(fd[1]);
	while (got + 1 < outlen && (n = read(fd[0], out + got, outlen - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	*status = WEXITSTATUS(st);
}

static void
warn_with(int e)
{
	errno = e;
	log_warn("cannot write %s", "/x/y.pid");
	/* errno is the caller's still */
	if (errno != e)
		_exit(3);
}

static void
warn_at_error_level(int e)
{
	log_set_level(LOG_LEVEL_ERROR);
	errno = e;
	log_warn("not shown");
}

static void
fatal_with(int e)
{
	errno = e;
	fatal_errno("cannot become a daemon");
}

static void
test_log_warn(void **state)
{
	char out[512], want[512];
	int status;

	(void)state;
	stderr_of(warn_with, ENOENT, out, sizeof(out), &status);
	snprintf(want, sizeof(want), "test_log: cannot write /x/y.pid: %s\n", strerror(ENOENT));
	assert_string_equal(out, want);
	assert_int_equal(status, 0);

	stderr_of(warn_at_error_level, EACCES, out, sizeof(out), &status);
	assert_string_equal(out, "");
}

/* A message longer than log.c's line buffer, as a command's error naming
 * a long URL: printed whole, with strerror after it. */
static void
warn_long(int e)
{
	char url[4001];

	memset(url, 'u', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	errno = e;
	log_warn("cannot fetch https://%s", url);
}

static void
test_log_long_message(void **state)
{
	static char out[8192], want[8192];
	char url[4001];
	int status;

	(void)state;
	memset(url, 'u', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	snprintf(want, sizeof(want), "test_log: cannot fetch https://%s: %s\n", url,
		 strerror(EIO));
	stderr_of(warn_long, EIO, out, sizeof(out), &status);
	assert_int_equal(status, 0);
	assert_string_equal(out, want);
}

static void
test_fatal_errno(void **state)
{
	char out[512], want[512];
	int status;

	(void)state;
	stderr_of(fatal_with, EPERM, out, sizeof(out), &status);
	snprintf(want, sizeof(want), "test_log: cannot become a daemon: %s\n", strerror(EPERM));
	assert_string_equal(out, want);
	assert_int_equal(status, 2);
}

static void
test_pidfile(void **state)
{
	char dir[] = "/tmp/test_log.XXXXXX", path[64], text[32], want[32];
	int fd;
	ssize_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d.pid", dir);
	assert_int_equal(pidfile_write(path), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	assert_true(n > 0);
	text[n] = '\0';
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	assert_string_equal(text, want);
	unlink(path);

	snprintf(path, sizeof(path), "%s/missing/d.pid", dir);
	errno = 0;
	assert_int_equal(pidfile_write(path), -1);
	assert_int_equal(errno, ENOENT);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_warn),
		cmocka_unit_test(test_log_long_message),
		cmocka_unit_test(test_fatal_errno),
		cmocka_unit_test(test_pidfile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
