/* beacon/pages: the HTML pages a recipient sees: the opt-out form and its
 * answers, the expired-message page and the privacy page. Each writes a
 * whole page into an mbuf; beacon/http.c decides which one and sends it. */
#include <string.h>
#include "mbconfig.h"
#include "mbuf.h"
#include "pages.h"
#include "textenc.h"

static void
page_start(struct mbuf *b, const char *title)
{
	mbuf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		  "<meta name=\"viewport\" content=\"width=device-width\">"
		  "<meta name=\"robots\" content=\"noindex\"><title>");
	text_html_escape(TEXT_TO_MBUF(b), title, strlen(title));
	mbuf_puts(b, "</title><style>body{font:16px/1.5 sans-serif;max-width:36em;margin:2em auto;"
		  "padding:0 1em;color:#222}button{font-size:1em;padding:.5em 1em}</style></head><body>\n<h1>");
	text_html_escape(TEXT_TO_MBUF(b), title, strlen(title));
	mbuf_puts(b, "</h1>\n");
}

static void
what_is_recorded(struct mbuf *b, const struct config *cfg)
{
	mbuf_printf(b, "<p>When you open a tracked message or click one of its links, this "
		    "service records: which message, whether it was an open or a click (and which "
		    "link), the time, your network with the last part of the address removed, "
		    "the kind of mail program, and whether it looked like a person or a machine "
		    "(such as a security scanner). It never records your full IP address, your "
		    "browser's details, or anything you read. Records are deleted after %d days.</p>\n",
		    cfg->retention_days);
	if (cfg->geoip_database != NULL)
		mbuf_printf(b, "<p>It also records the %s your network is in, looked up from your "
			    "address before the address is shortened; nothing more precise (no "
			    "coordinates, postal code or network provider).</p>\n",
			    cfg->geoip_precision == GEOIP_CITY ? "city and country" : "country");
}

/* The opening of a form that posts to url: a hidden field (name, value)
 * when name is not NULL, and the address question when the message had
 * several recipients (or an unknown number, 0). */
static void
form_open(struct mbuf *b, const char *url, const char *name, const char *value,
	  size_t recipients)
{
	mbuf_puts(b, "<form method=\"post\" action=\"");
	text_html_escape(TEXT_TO_MBUF(b), url, strlen(url));
	mbuf_puts(b, "\">\n");
	if (name != NULL) {
		mbuf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
		text_html_escape(TEXT_TO_MBUF(b), value, strlen(value));
		mbuf_puts(b, "\">\n");
	}
	if (recipients != 1)
		mbuf_puts(b, "<p><label>Your email address (the message went to several people): "
			  "<input type=\"email\" name=\"address\" required></label></p>\n");
}

void
page_optout(struct mbuf *b, const struct config *cfg, const char *url, size_t recipients)
{
	page_start(b, "Stop tracking");
	mbuf_puts(b, "<p>The message you came from was sent with read tracking: its sender can "
		  "see whether it was opened and which links were clicked.</p>\n");
	what_is_recorded(b, cfg);
	mbuf_puts(b, "<p>If you do not want this, press the button. From then on, mail to you "
		  "from this organisation is not tracked, and nothing more is recorded about "
		  "this message.</p>\n");
	form_open(b, url, NULL, NULL, recipients);
	mbuf_puts(b, "<p><button type=\"submit\">Stop tracking me</button></p>\n</form>\n"
		  "<p><a href=\"/privacy\">What is recorded, in full</a></p>\n</body></html>\n");
}

/* A message the store no longer knows, sent longer ago than it keeps
 * messages: the page says how to opt out instead. */
void
page_optout_expired(struct mbuf *b, const struct config *cfg)
{
	page_start(b, "This message has expired");
	mbuf_printf(b, "<p>The message you came from was sent more than %d days ago, and its "
		    "record has been deleted, as this service deletes every record after %d "
		    "days. This page can no longer stop tracking for you, and nothing was "
		    "recorded.</p>\n<p>To stop tracking, use the &ldquo;stop tracking&rdquo; link "
		    "in a more recent message from the same sender, or ask the sender to stop "
		    "tracking mail to you.</p>\n<p><a href=\"/privacy\">What is recorded, in "
		    "full</a></p>\n</body></html>\n", cfg->retention_days, cfg->retention_days);
}

void
page_optout_done(struct mbuf *b)
{
	page_start(b, "Tracking stopped");
	mbuf_puts(b, "<p>Done. From now on, mail to you from this organisation is not tracked, "
		  "and nothing more is recorded about the message you came from.</p>\n</body></html>\n");
}

void
page_address_needed(struct mbuf *b, const char *title, const char *url)
{
	page_start(b, title);
	mbuf_puts(b, "<p>Please type the email address the message was sent to.</p>\n<p><a href=\"");
	text_html_escape(TEXT_TO_MBUF(b), url, strlen(url));
	mbuf_puts(b, "\">Back</a></p>\n</body></html>\n");
}

void
page_optout_too_many(struct mbuf *b)
{
	page_start(b, "Too many attempts");
	mbuf_puts(b, "<p>Too many addresses were typed on this page. Nothing was recorded. "
		  "Please try again in ten minutes.</p>\n</body></html>\n");
}

void
page_optout_received(struct mbuf *b)
{
	page_start(b, "Request received");
	mbuf_puts(b, "<p>If this message was sent to the address you typed, mail to that "
		  "address from this organisation is no longer tracked, and nothing more is "
		  "recorded about the message you came from. Other addresses are not "
		  "recorded.</p>\n</body></html>\n");
}

void
page_consent_notice(struct mbuf *b, const struct config *cfg, const char *sender,
		    const char *tracked)
{
	mbuf_puts(b, "<p><strong>");
	text_html_escape(TEXT_TO_MBUF(b), sender, strlen(sender));
	mbuf_puts(b, "</strong> would like to know when you read their mail: with your consent, ");
	text_html_escape(TEXT_TO_MBUF(b), tracked, strlen(tracked));
	mbuf_puts(b, " of the messages ");
	text_html_escape(TEXT_TO_MBUF(b), sender, strlen(sender));
	mbuf_puts(b, " sends you are recorded and shown to them. Without it, nothing is "
		  "recorded.</p>\n");
	what_is_recorded(b, cfg);
	mbuf_puts(b, "<p>Your consent covers mail from this sender only. You can withdraw it at "
		  "any time with the &ldquo;Stop tracking me&rdquo; link at the foot of every "
		  "tracked message: from then on nothing more is recorded, for earlier messages "
		  "too.</p>\n");
}

void
page_consent(struct mbuf *b, const char *notice, const char *version, const char *url,
	     size_t recipients, bool changed)
{
	page_start(b, "Allow read tracking?");
	if (changed)
		mbuf_puts(b, "<p><em>What is recorded changed since this page was opened, and "
			  "nothing was recorded. Please read it again.</em></p>\n");
	mbuf_puts(b, notice);
	form_open(b, url, "notice", version, recipients);
	mbuf_puts(b, "<p><button type=\"submit\">Allow</button></p>\n</form>\n"
		  "<p>If you do not want this, close this page: nothing is recorded.</p>\n"
		  "<p><a href=\"/privacy\">What is recorded, in full</a></p>\n</body></html>\n");
}

void
page_consent_done(struct mbuf *b, const char *sender)
{
	page_start(b, "Thank you");
	mbuf_puts(b, "<p>Your consent is recorded: ");
	text_html_escape(TEXT_TO_MBUF(b), sender, strlen(sender));
	mbuf_puts(b, " may now see when you read their mail. Every tracked message has a "
		  "&ldquo;Stop tracking me&rdquo; link to withdraw it.</p>\n</body></html>\n");
}

void
page_consent_stopped(struct mbuf *b)
{
	page_start(b, "Tracking stays off");
	mbuf_puts(b, "<p>You stopped tracking earlier, and this page does not undo that: "
		  "nothing was recorded.</p>\n</body></html>\n");
}

void
page_consent_received(struct mbuf *b)
{
	page_start(b, "Request received");
	mbuf_puts(b, "<p>If this message was sent to the address you typed, and tracking was "
		  "not stopped for it before, its consent is recorded. Other addresses are not "
		  "recorded.</p>\n</body></html>\n");
}

void
page_consent_unknown(struct mbuf *b)
{
	page_start(b, "This link has expired");
	mbuf_puts(b, "<p>This service no longer knows the message you came from, so it cannot "
		  "record a consent from this page. Nothing was recorded.</p>\n</body></html>\n");
}

void
page_privacy(struct mbuf *b, const struct config *cfg)
{
	page_start(b, "What this service records");
	what_is_recorded(b, cfg);
	mbuf_printf(b, "<p>Links are recorded %s. The sender's own records name the message "
		    "and its recipients only as keyed hashes. A click within %d seconds of "
		    "sending is taken for a machine. Requests that send <code>DNT: 1</code> or "
		    "<code>Sec-GPC: 1</code> are counted without any detail about you.</p>\n"
		    "<p>Every tracked message has a link that stops tracking for its "
		    "recipient.</p>\n</body></html>\n",
		    cfg->store_link_urls == STORE_URLS_FULL ? "in full" :
		    cfg->store_link_urls == STORE_URLS_PATH ? "without their query string" :
		    "by number only", cfg->scanner_window);
}
