/* Unit tests of common/monoclock.c: both readings move forward with real
 * time, by at least what was slept, and agree with each other. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <time.h>

#include "monoclock.h"

static void
sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static void
test_advances_by_what_was_slept(void **state)
{
	(void)state;
	double s0 = monotonic_seconds();
	long long m0 = monotonic_ms();

	sleep_ms(30);
	double s1 = monotonic_seconds();
	long long m1 = monotonic_ms();

	assert_true(s1 - s0 >= 0.030);
	assert_true(m1 - m0 >= 30);
	/* a loaded machine may sleep longer, not ten seconds longer */
	assert_true(s1 - s0 < 10.0);
	assert_true(m1 - m0 < 10000);
}

static void
test_seconds_and_ms_are_one_clock(void **state)
{
	(void)state;
	for (int i = 0; i < 100; i++) {
		double s = monotonic_seconds();
		long long m = monotonic_ms();
		double s2 = monotonic_seconds();

		/* m was read between s and s2: within a millisecond of them */
		assert_true((double)m >= s * 1000.0 - 1.0);
		assert_true((double)m <= s2 * 1000.0 + 1.0);
		assert_true(s2 >= s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_advances_by_what_was_slept),
		cmocka_unit_test(test_seconds_and_ms_are_one_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
