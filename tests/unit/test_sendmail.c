/* Unit tests of sendmail.c against stand-in sendmail scripts: the command
 * line and message the MTA gets, its exit status and words in the error,
 * the deadline on a hung MTA, an MTA that exits without reading, and one
 * that leaves a background process holding its output. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monoclock.h"
#include "sendmail.h"

static char dir[] = "/tmp/mb-sendmail-test.XXXXXX";

/* Writes an executable shell script dir/name; returns its path. */
static const char *
script(const char *name, const char *body)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "#!/bin/sh\n%s", body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
	return path;
}

static char *
slurp(const char *name)
{
	char path[256], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "r"));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	assert_non_null(buf = calloc(1, (size_t)n + 1));
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static void
test_delivers(void **state)
{
	static const char msg[] = "To: alice@example.com\nSubject: hi\n\nbody\n";
	char body[512], cmd[300], err[256] = "";
	char *args, *got;

	(void)state;
	snprintf(body, sizeof(body), "printf '%%s|' \"$@\" >%s/args\ncat >%s/msg\n", dir, dir);
	/* sendmail_path with an argument of its own, before ours */
	snprintf(cmd, sizeof(cmd), "%s -Ftest", script("ok", body));
	assert_int_equal(sendmail_send(cmd, "<>", msg, strlen(msg), 5000, err, sizeof(err)), 0);
	args = slurp("args");
	assert_string_equal(args, "-Ftest|-t|-oi|-f|<>|");
	got = slurp("msg");
	assert_string_equal(got, msg);
	free(args);
	free(got);
	assert_int_equal(sendmail_send(cmd, "bounces@example.org", msg, strlen(msg), 5000, err,
	    sizeof(err)), 0);
	args = slurp("args");
	assert_string_equal(args, "-Ftest|-t|-oi|-f|bounces@example.org|");
	free(args);
}

static void
test_exit_status(void **state)
{
	char err[256] = "";

	(void)state;
	assert_int_equal(sendmail_send(script("fail", "cat >/dev/null\n"
	    "echo 'sendmail: fatal: queue file write error' >&2\necho second line >&2\nexit 75\n"),
	    "<>", "x\n", 2, 5000, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exited with status 75: sendmail: fatal: queue file write error"));
	assert_null(strstr(err, "second line"));
	assert_int_equal(sendmail_send("/nonexistent/sendmail", "<>", "x\n", 2, 5000, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot run /nonexistent/sendmail"));
	assert_int_equal(sendmail_send(script("killed", "kill -9 $$\n"), "<>", "x\n", 2, 5000,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "killed by signal 9"));
}

/* A hung MTA costs the deadline, no more; it is killed and reaped. */
static void
test_deadline(void **state)
{
	char err[256] = "";
	double t0 = monotonic_seconds();

	(void)state;
	assert_int_equal(sendmail_send(script("hang", "exec sleep 30\n"), "<>", "x\n", 2, 300,
	    err, sizeof(err)), -1);
	assert_true(monotonic_seconds() - t0 < 3.0);
	assert_non_null(strstr(err, "did not finish within 300 ms"));
}

/* A message far larger than a pipe's buffer to an MTA that reads none of
 * it: no SIGPIPE kills the caller (cmocka would report it), and the exit
 * status is the error. */
static void
test_unread(void **state)
{
	size_t n = 4 << 20;
	char *big = malloc(n), err[256] = "";

	(void)state;
	assert_non_null(big);
	memset(big, 'a', n);
	assert_int_equal(sendmail_send(script("noread", "exit 3\n"), "<>", big, n, 5000, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "exited with status 3"));
	free(big);
}

/* A sendmail that delivers in the background with its output still open:
 * its exit ends the wait, not the end of that output. */
static void
test_background(void **state)
{
	char err[256] = "";
	double t0 = monotonic_seconds();

	(void)state;
	assert_int_equal(sendmail_send(script("bg", "cat >/dev/null\nsleep 8 &\nexit 0\n"), "<>",
	    "x\n", 2, 10000, err, sizeof(err)), 0);
	assert_true(monotonic_seconds() - t0 < 4.0);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delivers),
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_unread),
		cmocka_unit_test(test_background),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
