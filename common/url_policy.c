/* common/url_policy: "https:// anywhere, http:// only to a loopback
 * literal", decided on libcurl's own reading of the URL so that the host
 * checked is the host connected to. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "url_policy.h"

/* Is host (as libcurl gives it: IPv6 in brackets) a loopback literal? */
static bool
loopback_literal(const char *host)
{
	unsigned char a[16];
	char buf[64];
	size_t n = strlen(host);

	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (n >= 2 && n - 2 < sizeof(buf) && host[0] == '[' && host[n - 1] == ']') {
		static const unsigned char one[16] = { [15] = 1 };
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		return inet_pton(AF_INET6, buf, a) == 1 && memcmp(a, one, 16) == 0;
	}
	return false;
}

enum url_policy
url_policy_check(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	enum url_policy verdict = URL_POLICY_NOT_HTTP;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (strcasecmp(scheme, "https") == 0)
			verdict = URL_POLICY_HTTPS;
		else if (strcasecmp(scheme, "http") == 0)
			verdict = loopback_literal(host) ? URL_POLICY_LOOPBACK_HTTP :
			    URL_POLICY_PLAIN_REMOTE;
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return verdict;
}
