/* pidfile: writes the pid file that mailbeacon-milter(8) and mailbeacond(8)
 * take with -p, for init systems and scripts that signal them. */
#include <stdio.h>
#include <unistd.h>

#include "pidfile.h"

int
pidfile_write(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f);
}
