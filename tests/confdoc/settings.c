/* conf-settings: prints the settings table of common/config.c (name,
 * required or not, default) and the directories configure put into the
 * defaults, for check-man.py, which holds mailbeacon.conf(5) to it. */
#include <stdio.h>

#include "mbconfig.h"

int
main(void)
{
	const char *name, *def;
	bool required;

	/* The page spells these /etc, /var and /run (doc/Makefile.am). */
	printf("dir\t%s\t/etc\n", SYSCONFDIR);
	printf("dir\t%s\t/var\n", LOCALSTATEDIR);
	printf("dir\t%s\t/run\n", RUNSTATEDIR);
	for (size_t i = 0; config_setting(i, &name, &def, &required); i++)
		printf("setting\t%s\t%s\t%s\t%s\n", name, required ? "required" : "optional",
		       def == NULL ? "none" : "default", def == NULL ? "" : def);
	return 0;
}
