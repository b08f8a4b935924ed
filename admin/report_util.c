/* report_util: formatting and escaping shared by the report formats and
 * export (see report_fmt.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "report_fmt.h"
#include "textenc.h"

/* Civil date of a day number (days since 1970-01-01), proleptic Gregorian
 * (H. Hinnant's algorithm): no time zone, no locale, any range. */
static void
civil(long long days, long long *y, int *m, int *d)
{
	long long z = days + 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	long long doe = z - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long long mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static long long
floordiv(long long a, long long b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static void
split(long long t, long long *y, int *mo, int *d, int *h, int *mi, int *s)
{
	long long day = floordiv(t, 86400), sec = t - day * 86400;

	civil(day, y, mo, d);
	*h = (int)(sec / 3600);
	*mi = (int)(sec / 60 % 60);
	*s = (int)(sec % 60);
}

/* n digits of v (0 <= v < 10^n) at p. */
static char *
put_digits(char *p, long long v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

/* "YYYY-MM-DD?HH:MM" (sep between date and time) without snprintf for
 * years 0..9999 (a report prints two per message); -1 otherwise. */
static int
fast_date_time(char *buf, long long y, int mo, int d, char sep, int h, int mi)
{
	char *p = buf;

	if (y < 0 || y > 9999)
		return -1;
	p = put_digits(p, y, 4);
	*p++ = '-';
	p = put_digits(p, mo, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = sep;
	p = put_digits(p, h, 2);
	*p++ = ':';
	p = put_digits(p, mi, 2);
	*p = '\0';
	return (int)(p - buf);
}

void
fmt_iso(long long t, char buf[32])
{
	long long y;
	int mo, d, h, mi, s, n;

	split(t, &y, &mo, &d, &h, &mi, &s);
	if ((n = fast_date_time(buf, y, mo, d, 'T', h, mi)) > 0) {
		buf[n] = ':';
		put_digits(buf + n + 1, s, 2);
		buf[n + 3] = 'Z';
		buf[n + 4] = '\0';
		return;
	}
	snprintf(buf, 32, "%04lld-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, s);
}

void
fmt_short(long long t, char buf[32])
{
	long long y;
	int mo, d, h, mi, s;

	split(t, &y, &mo, &d, &h, &mi, &s);
	if (fast_date_time(buf, y, mo, d, ' ', h, mi) > 0)
		return;
	snprintf(buf, 32, "%04lld-%02d-%02d %02d:%02d", y, mo, d, h, mi);
}

void
fmt_day(long long day, char buf[32])
{
	long long y;
	int m, d;

	civil(day, &y, &m, &d);
	snprintf(buf, 32, "%04lld-%02d-%02d", y, m, d);
}

void
fmt_duration(long long secs, char buf[32])
{
	const char *sign = secs < 0 ? "-" : "";
	unsigned long long v = secs < 0 ? 0ULL - (unsigned long long)secs : (unsigned long long)secs;

	if (v < 60)
		snprintf(buf, 32, "%s%llus", sign, v);
	else if (v < 3600)
		snprintf(buf, 32, "%s%llum%02llus", sign, v / 60, v % 60);
	else if (v < 86400)
		snprintf(buf, 32, "%s%lluh%02llum", sign, v / 3600, v / 60 % 60);
	else
		snprintf(buf, 32, "%s%llud%02lluh", sign, v / 86400, v / 3600 % 24);
}

void
fmt_double(double x, char buf[40])
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, 40, "%.*g", prec, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	/* "1.0", not "1": a rate reads as a real number everywhere. Rates are
	 * always finite, in [0, 1] (no "inf" or "nan" to worry about). */
	if (strpbrk(buf, ".eE") == NULL && strlen(buf) + 3 <= 40)
		strcat(buf, ".0");
}

double
ratio(long long num, long long den)
{
	return den > 0 ? (double)num / (double)den : 0.0;
}

/* Calls put for each code point of s; invalid bytes are U+FFFD. */
#define FOR_EACH_CP(s, cp, body) do { \
	const unsigned char *p_ = (const unsigned char *)(s); \
	size_t n_ = strlen((const char *)p_), k_; \
	while (n_ > 0) { \
		uint32_t cp; \
		k_ = text_utf8_decode(p_, n_, &cp); \
		if (k_ == 0) \
			k_ = 1; \
		body; \
		p_ += k_; \
		n_ -= k_; \
	} \
} while (0)

static void
put_utf8(FILE *f, uint32_t cp)
{
	text_put_utf8(TEXT_TO_FILE(f), cp);
}

/* Printable ASCII only (0x20..0x7e): such text is written as it is by the
 * terminal writers below; *len is its length. */
static bool
plain_ascii(const char *s, size_t *len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return false;
	*len = (size_t)(p - (const unsigned char *)s);
	return true;
}

void
json_str(FILE *f, const char *s)
{
	text_json_string(TEXT_TO_FILE(f), s);
}

void
html_str(FILE *f, const char *s)
{
	if (s != NULL)
		text_html_escape_utf8(TEXT_TO_FILE(f), s, strlen(s));
}

void
html_str_cut(FILE *f, const char *s, size_t max)
{
	size_t total = 0, keep, cut = 0;

	if (s == NULL)
		return;
	FOR_EACH_CP(s, cp, { (void)cp; total++; });
	if (total <= max) {
		html_str(f, s);
		return;
	}
	/* max - 1 code points (an invalid octet counts as one), then "…" */
	keep = max > 0 ? max - 1 : 0;
	FOR_EACH_CP(s, cp, {
		(void)cp;
		if (keep-- == 0)
			break;
		cut += k_;
	});
	text_html_escape_utf8(TEXT_TO_FILE(f), s, cut);
	fputs("\xe2\x80\xa6", f);
}

void
csv_field(FILE *f, const char *s)
{
	bool quote = false, formula;

	if (s == NULL || *s == '\0')
		return;
	formula = strchr("=+-@\t\r", *s) != NULL;
	for (const char *p = s; *p; p++)
		if (*p == ',' || *p == '"' || *p == '\n' || *p == '\r')
			quote = true;
	if (quote)
		putc('"', f);
	if (formula)
		putc('\'', f);
	FOR_EACH_CP(s, cp, {
		if (cp == '"')
			fputs("\"\"", f);
		else
			put_utf8(f, cp);
	});
	if (quote)
		putc('"', f);
}

static bool
tty_control(unsigned cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x2028 || cp == 0x2029 ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	    cp == 0x200e || cp == 0x200f;
}

void
tty_text(FILE *f, const char *s, int max)
{
	size_t total = 0, count = 0, w = max > 0 ? (size_t)max : 0, n;

	if (s == NULL)
		return;
	if (plain_ascii(s, &n) && n <= w) {
		fwrite(s, 1, n, f);
		return;
	}
	FOR_EACH_CP(s, cp, { (void)cp; total++; });
	FOR_EACH_CP(s, cp, {
		if (total > w && count + 1 >= w) {
			if (w > 0)
				fputs("\xe2\x80\xa6", f);
			break;
		}
		put_utf8(f, tty_control(cp) ? '?' : cp);
		count++;
	});
}

void
tty_cell(FILE *f, const char *s, int width, bool right)
{
	size_t total = 0, count = 0, w = width > 0 ? (size_t)width : 0, n;

	if (s == NULL)
		s = "";
	if (plain_ascii(s, &n) && n <= w) {
		for (size_t i = n; right && i < w; i++)
			putc_unlocked(' ', f);
		fwrite(s, 1, n, f);
		for (size_t i = n; !right && i < w; i++)
			putc_unlocked(' ', f);
		return;
	}
	FOR_EACH_CP(s, cp, { (void)cp; total++; });
	if (right && total < w)
		for (size_t i = total; i < w; i++)
			putc(' ', f);
	FOR_EACH_CP(s, cp, {
		if (total > w && count + 1 >= w) {
			if (w > 0) {
				fputs("\xe2\x80\xa6", f);
				count++;
			}
			break;
		}
		put_utf8(f, tty_control(cp) ? '?' : cp);
		count++;
	});
	if (!right)
		for (; count < w; count++)
			putc(' ', f);
}
