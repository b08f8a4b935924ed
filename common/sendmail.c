/* sendmail: one message to the local MTA through sendmail_path, with a
 * deadline (see sendmail.h). posix_spawn rather than fork, so that the
 * beacon's threads are safe; a hung or failing MTA costs the caller at most
 * the deadline, and what the command printed goes into the error. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "monoclock.h"
#include "sendmail.h"

extern char **environ;

/* What the command printed that goes into an error message. */
#define SENDMAIL_OUTPUT_MAX 240

/* sendmail_path split at spaces, then -t -oi -f from: a NULL-terminated
 * array whose strings live in *copy; NULL when out of memory or empty. */
static char **
sendmail_argv(const char *path, const char *from, char **copy)
{
	size_t n = 0, cap = 6;
	char **argv, *w, *save;

	if ((*copy = strdup(path)) == NULL)
		return NULL;
	for (const char *p = path; *p; p++)
		cap += *p == ' ';
	if ((argv = calloc(cap, sizeof(*argv))) == NULL) {
		free(*copy);
		return NULL;
	}
	for (w = strtok_r(*copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	if (n == 0) {
		free(argv);
		free(*copy);
		return NULL;
	}
	argv[n++] = "-t";
	argv[n++] = "-oi";
	argv[n++] = "-f";
	argv[n++] = (char *)from;
	argv[n] = NULL;
	return argv;
}

/* The first line of out, printable ASCII only, for an error message. */
static void
first_line(const char *out, size_t n, char *line, size_t linelen)
{
	size_t k = 0;

	for (size_t i = 0; i < n && out[i] != '\n' && k + 1 < linelen; i++)
		line[k++] = out[i] >= 0x20 && out[i] < 0x7f ? out[i] : '?';
	if (linelen > 0)
		line[k] = '\0';
}

/* Starts the command with its standard input from in[0] and its output
 * into out[1]; the child gets default signal handling and an empty mask
 * whatever the caller has set. */
static int
spawn(char **argv, const int in[2], const int out[2], pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int rc;

	if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
		return rc;
	if ((rc = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGCHLD);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	if ((rc = posix_spawn_file_actions_adddup2(&fa, in[0], 0)) == 0 &&
	    (rc = posix_spawn_file_actions_adddup2(&fa, out[1], 1)) == 0 &&
	    (rc = posix_spawn_file_actions_adddup2(&fa, out[1], 2)) == 0 &&
	    (rc = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
	    (rc = posix_spawnattr_setsigdefault(&attr, &dfl)) == 0 &&
	    (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF)) == 0)
		rc = posix_spawn(pid, argv[0], &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* Writes msg to the child and collects its output until it has exited or
 * the deadline passes: 1 exited (*status), 0 deadline, -1 waitpid failed. */
static int
feed_and_wait(pid_t pid, int in_fd, int out_fd, const char *msg, size_t len,
	      long long deadline, char *out, size_t *n_out, int *status)
{
	size_t off = 0;
	bool writing = true, reading = true;

	for (;;) {
		struct pollfd pf[2];
		nfds_t n = 0;
		long long left = deadline - monotonic_ms();
		pid_t w;
		int nap;

		if (writing && off == len) {
			close(in_fd);	/* end of the message */
			writing = false;
		}
		if (!writing && (w = waitpid(pid, status, WNOHANG)) != 0) {
			if (w == -1 && errno == EINTR)
				continue;
			/* Late output of an exited child is still in the pipe. */
			while (reading && *n_out < SENDMAIL_OUTPUT_MAX) {
				ssize_t r = read(out_fd, out + *n_out, SENDMAIL_OUTPUT_MAX - *n_out);
				if (r <= 0)
					break;
				*n_out += (size_t)r;
			}
			return w == pid ? 1 : -1;
		}
		if (left <= 0) {
			if (writing)
				close(in_fd);
			return 0;
		}
		if (writing)
			pf[n++] = (struct pollfd){ .fd = in_fd, .events = POLLOUT };
		if (reading)
			pf[n++] = (struct pollfd){ .fd = out_fd, .events = POLLIN };
		/* Short naps once the message is written: the child may leave
		 * a background process holding its output open, so its exit is
		 * what ends the wait, not the end of its output. */
		nap = writing ? 50 : 20;
		if (left < nap)
			nap = (int)left;
		if (poll(pf, n, nap) < 0 && errno != EINTR) {
			if (writing)
				close(in_fd);
			return 0;
		}
		for (nfds_t i = 0; i < n; i++) {
			if (pf[i].revents == 0)
				continue;
			if (writing && pf[i].fd == in_fd) {
				ssize_t wr = write(in_fd, msg + off, len - off);
				if (wr > 0)
					off += (size_t)wr;
				else if (wr < 0 && errno != EAGAIN && errno != EINTR) {
					/* EPIPE: it stopped reading; its status tells why. */
					close(in_fd);
					writing = false;
				}
			} else if (reading && pf[i].fd == out_fd) {
				char sink[512];
				ssize_t r = read(out_fd, sink, sizeof(sink));
				if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
					reading = false;
				for (ssize_t k = 0; k < r && *n_out < SENDMAIL_OUTPUT_MAX; k++)
					out[(*n_out)++] = sink[k];
			}
		}
	}
}

int
sendmail_send(const char *sendmail_path, const char *from, const char *msg, size_t len,
	      int timeout_ms, char *err, size_t errlen)
{
	long long deadline = monotonic_ms() + timeout_ms;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, status = 0, rc, res = -1;
	char **argv, *copy, output[SENDMAIL_OUTPUT_MAX], line[SENDMAIL_OUTPUT_MAX + 1];
	sigset_t pipe_set, old_mask, pending;
	bool pipe_was_pending;
	size_t n_out = 0;
	pid_t pid;

	if ((argv = sendmail_argv(sendmail_path, from, &copy)) == NULL) {
		snprintf(err, errlen, "sendmail: out of memory or empty sendmail_path");
		return -1;
	}
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "sendmail: pipe: %s", strerror(errno));
		goto out;
	}
	if ((rc = spawn(argv, in, out, &pid)) != 0) {
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(rc));
		goto out;
	}
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	(void)fcntl(in[1], F_SETFL, O_NONBLOCK);
	(void)fcntl(out[0], F_SETFL, O_NONBLOCK);

	/* A child that exits before reading everything must not kill us
	 * with SIGPIPE: hold it back in this thread, and take away one that
	 * our writes raised. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
	sigpending(&pending);
	pipe_was_pending = sigismember(&pending, SIGPIPE);
	rc = feed_and_wait(pid, in[1], out[0], msg, len, deadline, output, &n_out, &status);
	in[1] = -1;	/* closed by feed_and_wait */
	sigpending(&pending);
	if (!pipe_was_pending && sigismember(&pending, SIGPIPE)) {
		struct timespec zero = { 0, 0 };
		(void)sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);

	first_line(output, n_out, line, sizeof(line));
	if (rc == 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
		snprintf(err, errlen, "%s did not finish within %d ms: killed", argv[0],
		    timeout_ms);
	} else if (rc == -1) {
		snprintf(err, errlen, "%s: waitpid: %s", argv[0], strerror(errno));
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		res = 0;
	} else if (WIFEXITED(status)) {
		snprintf(err, errlen, "%s exited with status %d%s%s", argv[0],
		    WEXITSTATUS(status), line[0] ? ": " : "", line);
	} else {
		snprintf(err, errlen, "%s was killed by signal %d%s%s", argv[0],
		    WIFSIGNALED(status) ? WTERMSIG(status) : 0, line[0] ? ": " : "", line);
	}
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] != -1)
			close(in[i]);
		if (out[i] != -1)
			close(out[i]);
	}
	free(argv);
	free(copy);
	return res;
}
