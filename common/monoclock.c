/* monoclock: the monotonic clock in seconds (see monoclock.h). */
#include <time.h>
#include "monoclock.h"

double
monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
