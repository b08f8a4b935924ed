/* mailbeacon token verify: tells a postmaster (and the test suite) what a
 * tracking URL carries and whether its signature holds under the current
 * key file, using the same verification as the beacon. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "admin.h"
#include "mbconfig.h"
#include "keyring.h"
#include "token.h"

static int
verify_one(const struct admin_env *env, const char *url)
{
	const char *base = env->cfg->beacon_url;
	size_t bl = strlen(base);
	struct token t;

	if (strncmp(url, base, bl) != 0 || url[bl] != '/') {
		printf("bad\tnot under beacon_url %s\t%s\n", base, url);
		return 1;
	}
	const char *path = url + bl + 1;
	enum token_status st = token_verify(env->keys, path, strlen(path), &t);
	if (st != TOKEN_OK) {
		printf("bad\t%s\t%s\n", token_status_str(st), url);
		return 1;
	}
	if (t.kind == TOKEN_CLICK)
		printf("ok\t%c\t%s\t%lld\t%u\t%s\t%s\n", t.kind, t.msgid, t.sent, t.link, t.kid, t.dest);
	else
		printf("ok\t%c\t%s\t%lld\t-\t%s\t-\n", t.kind, t.msgid, t.sent, t.kid);
	token_clear(&t);
	return 0;
}

int
cmd_token(struct admin_env *env, int argc, char **argv)
{
	int bad = 0;

	if (argc < 2 || strcmp(argv[1], "verify") != 0) {
		fprintf(stderr, "usage: mailbeacon token verify [URL...]\n");
		return EXIT_USAGE;
	}
	if (argc > 2) {
		for (int i = 2; i < argc; i++)
			bad |= verify_one(env, argv[i]);
	} else {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while ((n = getline(&line, &cap, stdin)) > 0) {
			while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
				line[--n] = '\0';
			if (n > 0)
				bad |= verify_one(env, line);
		}
		free(line);
	}
	fflush(stdout);
	return bad ? EXIT_RUNTIME : 0;
}
