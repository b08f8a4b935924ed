/* Unit tests of daemon.c, the daemons' shared start-up: the options (-c,
 * -f, -n, -p and -d only where allowed; anything else is usage), -n's
 * verdict with the store created, the user check, and the pid file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

static void
usage_exits(void)
{
	exit(64);
}

/* daemon_start on these arguments, in a child (usage exits); returns the
 * child's exit status, and what it parsed in parsed as
 * "CONFIG|PIDFILE|<foreground><check_only><debug>". */
static int
start(bool allow_debug, int argc, char **argv, char *parsed, size_t parsedlen)
{
	struct daemon_options opts = { .progname = "d", .config = "/default.conf" }, *o = &opts;
	int fd[2], status;
	pid_t pid;

	assert_int_equal(pipe(fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fd[0]);
		daemon_start(o, argc, argv, allow_debug, usage_exits);
		char line[512];
		int n = snprintf(line, sizeof(line), "%s|%s|%d%d%d", o->config,
				 o->pidfile ? o->pidfile : "-", o->foreground, o->check_only, o->debug);
		if (write(fd[1], line, (size_t)n) != n)
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	ssize_t n = read(fd[0], parsed, parsedlen - 1);
	parsed[n > 0 ? n : 0] = '\0';
	close(fd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_options(void **state)
{
	char got[512];
	char *a1[] = { "d", "-c", "/x.conf", "-n", "-p", "/run/d.pid", NULL };
	char *a2[] = { "d", "-d", NULL };
	char *a3[] = { "d", "extra", NULL };
	char *a4[] = { "d", "-f", NULL };

	(void)state;
	assert_int_equal(start(false, 6, a1, got, sizeof(got)), 0);
	assert_string_equal(got, "/x.conf|/run/d.pid|010");
	assert_int_equal(start(true, 2, a2, got, sizeof(got)), 0);
	assert_string_equal(got, "/default.conf|-|101");
	assert_int_equal(start(false, 2, a2, got, sizeof(got)), 64);	/* -d is the milter's only */
	assert_int_equal(start(true, 2, a3, got, sizeof(got)), 64);	/* no operands */
	assert_int_equal(start(false, 2, a4, got, sizeof(got)), 0);
	assert_string_equal(got, "/default.conf|-|100");
}

static void
test_check_only(void **state)
{
	char dir[] = "/tmp/test_daemon.XXXXXX", db[128], out[128], line[256];
	struct passwd *pw = getpwuid(geteuid());
	struct config cfg = { 0 };
	struct daemon_options o = { .progname = "testd", .config = "/etc/x.conf" };

	(void)state;
	assert_non_null(pw);
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/mb.db", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	cfg.database = db;
	cfg.user = pw->pw_name;
	fflush(stdout);
	int saved = dup(1);
	assert_non_null(freopen(out, "w", stdout));
	int rc = daemon_check_only(&o, &cfg);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	assert_int_equal(rc, 0);
	FILE *f = fopen(out, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_string_equal(line, "testd: /etc/x.conf is OK\n");
	struct stat sb;
	assert_int_equal(stat(db, &sb), 0);	/* the store was created */

	/* As root, a user that does not exist stops it before the store. */
	char err[512] = "";
	cfg.user = "no-such-user-mailbeacon-test";
	if (geteuid() == 0) {
		assert_int_equal(daemon_become_user(&cfg, err, sizeof(err)), -1);
		assert_string_equal(err, "user 'no-such-user-mailbeacon-test' (setting user) does not exist");
	}
	/* A store that cannot be created is an error with its reason. */
	cfg.user = pw->pw_name;
	cfg.database = "/nonexistent-dir-mailbeacon/mb.db";
	assert_int_equal(daemon_become_user(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent-dir-mailbeacon/mb.db"));

	char path[160];
	const char *names[] = { "mb.db", "mb.db-wal", "mb.db-shm", "out" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	assert_int_equal(rmdir(dir), 0);
}

static void
test_pidfile(void **state)
{
	char dir[] = "/tmp/test_daemon.XXXXXX", path[128], line[64], want[64];
	struct daemon_options o = { .progname = "testd" };

	(void)state;
	daemon_pidfile_write(&o);	/* no -p: nothing, no crash */
	daemon_pidfile_remove(&o);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d.pid", dir);
	o.pidfile = path;
	daemon_pidfile_write(&o);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	snprintf(want, sizeof(want), "%d\n", (int)getpid());
	assert_string_equal(line, want);
	daemon_pidfile_remove(&o);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_check_only),
		cmocka_unit_test(test_pidfile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
