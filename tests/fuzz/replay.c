/* replay: runs a libFuzzer target without libFuzzer, passing each file named
 * (every file of a named directory) to LLVMFuzzerTestOneInput once: make check
 * replays the seeds and every crash input found so far with it. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "mbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long replayed;

static int
replay_file(const char *path)
{
	struct mbuf b;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		perror(path);
		return -1;
	}
	mbuf_init(&b);
	/* 64 MiB: more than any seed; libFuzzer's own default is 1 MiB. */
	int rc = mbuf_read_fd(&b, fd, 64u << 20);
	close(fd);
	if (rc < 0) {
		perror(path);
		mbuf_free(&b);
		return -1;
	}
	/* A private copy of exactly the input's size lets ASan see overreads. */
	size_t len = b.len;
	uint8_t *copy = malloc(len ? len : 1);
	if (copy == NULL) {
		mbuf_free(&b);
		return -1;
	}
	memcpy(copy, b.data ? b.data : "", len);
	mbuf_free(&b);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
	replayed++;
	return 0;
}

static int
replay_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort), rc = 0;
	if (n < 0) {
		perror(path);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char *sub;
		if (names[i]->d_name[0] != '.' &&
		    asprintf(&sub, "%s/%s", path, names[i]->d_name) >= 0) {
			if (stat(sub, &st) == 0 && S_ISREG(st.st_mode) && replay_file(sub) < 0)
				rc = -1;
			free(sub);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i]) < 0)
			rc = 1;
	printf("%s: %lu inputs replayed\n", argv[0], replayed);
	return rc;
}
