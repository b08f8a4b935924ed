/* mailbeacon-milter(8): the milter daemon. The process that opens the
 * milter socket stays a small supervisor: it runs libmilter in a worker
 * process on the inherited socket, turns SIGHUP into a reload (libmilter's
 * own signal thread would stop on SIGHUP), forwards SIGTERM, and restarts a
 * worker that died, so mail keeps its milter. The start-up it shares with
 * mailbeacond (options, loading, -n, user, pid file) is common/daemon.c. */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libmilter/mfapi.h>
#include <libxml/parser.h>
#include "autoconf.h"
#include "callbacks.h"
#include "daemon.h"
#include "log.h"
#include "runtime.h"
#include "store.h"

#define DEFAULT_CONFIG SYSCONFDIR "/mailbeacon/mailbeacon.conf"
#define STOP_GRACE_SECONDS 30
#define RESTARTS_PER_MINUTE 10

static volatile sig_atomic_t got_hup, got_term, got_chld;

static void
usage(void)
{
	fprintf(stderr, "usage: mailbeacon-milter [-f | -d] [-n] [-c FILE] [-p PIDFILE]\n"
		"  -c FILE     configuration (default %s)\n"
		"  -d          as -f, and log at level debug whatever log_level says\n"
		"  -f          stay in the foreground and log to standard error\n"
		"  -n          check the configuration, keys, policy and database, then exit\n"
		"  -p PIDFILE  write the supervisor's process id there\n", DEFAULT_CONFIG);
	exit(1);
}

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGCHLD)
		got_chld = 1;
	else
		got_term = 1;
}

/* The unix socket must be usable by the MTA: owner the milter's user,
 * group its group, mode 0660 (put postfix in that group). */
static int
socket_permissions(const struct passwd *pw, char *err, size_t errlen)
{
	const char *s = rt.cfg.milter_socket;

	if (strncmp(s, "unix:", 5) != 0 && strncmp(s, "local:", 6) != 0)
		return 0;
	const char *path = strchr(s, ':') + 1;
	if (chmod(path, 0660) < 0 ||
	    (pw != NULL && chown(path, pw->pw_uid, pw->pw_gid) < 0)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void *
reload_thread(void *arg)
{
	sigset_t *set = arg;
	int sig;

	for (;;)
		if (sigwait(set, &sig) == 0 && sig == SIGUSR1)
			runtime_reload("SIGHUP");
	return NULL;
}

/* The worker: libmilter on the socket the supervisor opened. */
static int
worker_main(void)
{
	static sigset_t usr1;
	pthread_t tid;

	signal(SIGHUP, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	if (pthread_create(&tid, NULL, reload_thread, &usr1) != 0) {
		log_warnx("cannot start the reload thread");
		return 1;
	}
	int rc = smfi_main();
	/* libmilter stopped accepting; let messages in flight finish. */
	for (int i = 0; i < STOP_GRACE_SECONDS * 10 && callbacks_active() > 0; i++)
		usleep(100000);
	if (callbacks_active() > 0)
		log_warnx("stopping with %d connections still open", callbacks_active());
	runtime_shutdown();
	return rc == MI_SUCCESS ? 0 : 1;
}

static pid_t
start_worker(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid == 0) {
		/* A worker must not outlive its supervisor (kill -9 of it):
		 * a restarted milter would find it still serving. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(0);
		_exit(worker_main());
	}
	if (pid < 0)
		log_warn("cannot fork a worker");
	return pid;
}

static int
supervise(void)
{
	struct sigaction sa;
	sigset_t block, old;
	time_t window = time(NULL);
	int restarts = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);

	char database[320];
	pid_t worker = start_worker();
	if (worker < 0)
		return 1;
	store_display(rt.cfg.database, database, sizeof(database));
	log_info("started: socket %s, database %s, policy %s", rt.cfg.milter_socket,
		 database, rt.cfg.policy_file);
	for (;;) {
		while (!got_hup && !got_term && !got_chld)
			sigsuspend(&old);
		if (got_hup) {
			got_hup = 0;
			kill(worker, SIGUSR1);
		}
		if (got_term) {
			log_info("stopping: finishing messages in flight");
			kill(worker, SIGTERM);
			int status;
			while (waitpid(worker, &status, 0) < 0 && errno == EINTR)
				;
			log_info("stopped");
			return 0;
		}
		if (got_chld) {
			got_chld = 0;
			int status;
			if (waitpid(worker, &status, WNOHANG) != worker)
				continue;
			if (WIFSIGNALED(status))
				log_warnx("worker %d killed by signal %d: restarting it", (int)worker,
					  WTERMSIG(status));
			else
				log_warnx("worker %d exited with status %d: restarting it", (int)worker,
					  WEXITSTATUS(status));
			if (time(NULL) - window > 60) {
				window = time(NULL);
				restarts = 0;
			}
			if (++restarts > RESTARTS_PER_MINUTE) {
				log_warnx("more than %d restarts in a minute: giving up", RESTARTS_PER_MINUTE);
				return 1;
			}
			sleep(1);
			if ((worker = start_worker()) < 0)
				return 1;
		}
	}
}

int
main(int argc, char **argv)
{
	struct daemon_options o = { .progname = "mailbeacon-milter", .config = DEFAULT_CONFIG };
	char err[512];

	daemon_start(&o, argc, argv, true, usage);
	xmlInitParser();	/* once, before any thread parses HTML */
	runtime_load(&o);
	log_set_level(o.debug ? LOG_LEVEL_DEBUG : rt.cfg.log_level);
	struct passwd *pw = NULL;
	if (geteuid() == 0 && (pw = getpwnam(rt.cfg.user)) == NULL) {
		fprintf(stderr, "mailbeacon-milter: %s: user '%s' (setting user) does not exist\n",
			o.config, rt.cfg.user);
		return 1;
	}
	if (o.check_only)
		return daemon_check_only(&o, &rt.cfg);
	if (smfi_setconn(rt.cfg.milter_socket) != MI_SUCCESS ||
	    smfi_register(milter_desc) != MI_SUCCESS)
		fatal("cannot set up libmilter on %s", rt.cfg.milter_socket);
	if (smfi_opensocket(true) != MI_SUCCESS)
		fatal("cannot open the milter socket %s", rt.cfg.milter_socket);
	if (socket_permissions(pw, err, sizeof(err)) < 0 ||
	    daemon_become_user(&rt.cfg, err, sizeof(err)) < 0)
		fatal("%s", err);
	daemon_detach(&o);
	daemon_pidfile_write(&o);
	int rc = supervise();
	daemon_pidfile_remove(&o);
	return rc;
}
