#!/usr/bin/env python3
"""MIME corpus check for "mailbeacon preview".

Usage: check.py MAILBEACON_BINARY CONFIG_DIR CORPUS_DIR

For every line of CORPUS_DIR/MANIFEST this runs
    MAILBEACON -c CONFIG_DIR/mailbeacon.conf preview --from F --to T < FILE
and checks the result with tools independent of our C code (Python's email
package, its own HTML tokenizer, HMAC):

untouched messages: exit 0, stdout byte-identical to the input, stderr says
"untouched: " followed by the expected reason prefix.

edited messages:
  * exit 0; no output line longer than 998 octets; the input's line ending
    convention (CRLF or LF) is kept;
  * the same MIME tree (content types in the same order); every output part's
    defects are a subset of the input part's (by class);
  * top-level headers identical except one added X-Mailbeacon, an added
    Disposition-Notification-To (only with receipt=1) and a changed or added
    Content-Transfer-Encoding (7bit/8bit -> quoted-printable, only where a
    line would pass 998 octets or 8-bit data entered a 7bit part);
  * the parts edited are exactly the body text parts (text/html and
    text/plain, not attachments, not inside message/rfc822; all parts of
    multipart/alternative, the root of multipart/related, the first part of
    multipart/mixed); every other part is byte-identical (headers, payload,
    preamble, epilogue); re-encoded payloads are valid (strict base64,
    RFC 2045 quoted-printable, pure 7bit);
  * undoing the edits yields the decoded input exactly: both payloads are
    decoded (transfer encoding, then charset with surrogateescape) and walked
    in step; the output may differ only by the pixel tag and the rendered
    footer (before </body>, or at the end when there is none; text parts: the
    footer at the end, after at most one added line break) and by click URLs
    that stand where the input has an <a>/<area> href value (HTML, found by
    an HTML5-style tokenizer: comments, script/style/textarea/title are not
    markup) or a URL in text (text-clicks: trailing .,;:!?>] and unbalanced
    ")" stay outside). The click's destination must equal the input value
    decoded as HTML5 decodes attribute values, cleaned as the WHATWG URL
    parser does (C0 controls and spaces trimmed, tab, CR and LF removed)
    and resolved against <base href>;
  * every token (pixel, click, opt-out) verifies with "mailbeacon token
    verify" and with an HMAC computed here, under the first key; a tampered
    URL is rejected; all tokens name one message id (the one in
    X-Mailbeacon); link numbers run from 1 and name one destination each;
  * X-Mailbeacon is "MSGID; WORDS" with "opens" exactly when a pixel was
    added, "footer", "receipt" exactly with receipt=1, and "clicks" or
    "text-clicks" when links were rewritten;
  * our own earlier artefacts in quoted or forwarded mail are neutralised:
    the input's <img src> values that are open URLs (BEACON/o/...) and
    <a>/<area> href values that are opt-out or consent URLs (BEACON/u/...,
    BEACON/a/...), read as HTML5 decodes them, are blanked in the output
    ("" when the value was unquoted); in text parts each such URL is
    replaced by the notice "[earlier tracking link removed]". The output
    then carries exactly its own pixel and its own opt-out link: no other
    such attribute value (HTML) and no other such URL (text);
  * the footer lands where a reader sees it: not inside a comment, tag or
    raw-text element, and under no open element hidden by its inline style
    (display:none, visibility:hidden, font-size:0, opacity:0, mso-hide:all),
    the hidden attribute or what it is (template, select, object ...);
  * links=N and pixel=N from the MANIFEST.

Prints "ok FILE" or "FAIL FILE: reasons" per message, then "N passed, M
failed"; exits 1 when anything failed. With CORPUS_OUT_DIR set, each output
is also written there (FILE.out) for inspection.
"""
import base64
import binascii
import codecs
import hashlib
import hmac
import html
import html.entities
import os
import re
import subprocess
import sys
import time
import urllib.parse
from email import policy as email_policy
from email.parser import BytesParser

B64 = r'[A-Za-z0-9_-]'
WS = ' \t\n\f\r'


ARTEFACT_NOTICE = '[earlier tracking link removed]'


class Fail(Exception):
    pass


# ------------------------------------------------------------------ config

def read_conf(path):
    conf = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            name, _, value = line.partition('=')
            conf[name.strip()] = value.strip()
    base = os.path.dirname(os.path.abspath(path))
    for k in ('key_file', 'footer_html', 'footer_text'):
        if k in conf and not os.path.isabs(conf[k]):
            conf[k] = os.path.join(base, conf[k])
    conf.setdefault('privacy_url', conf['beacon_url'] + '/privacy')
    return conf


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))


def b64url_encode(b):
    return base64.urlsafe_b64encode(b).rstrip(b'=').decode('ascii')


def read_keys(path):
    keys = []
    with open(path, encoding='ascii') as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith('#'):
                kid, secret = line.split()
                keys.append((kid, b64url_decode(secret)))
    return keys


def read_template(path):
    with open(path, encoding='ascii') as f:
        t = f.read()
    if t.endswith('\r\n'):
        t = t[:-2]
    elif t.endswith('\n'):
        t = t[:-1]
    return t


class Ctx:
    """Everything that is the same for all messages."""

    def __init__(self, binary, confdir):
        self.binary = binary
        self.conf_path = os.path.join(confdir, 'mailbeacon.conf')
        self.conf = read_conf(self.conf_path)
        self.beacon = self.conf['beacon_url'].rstrip('/')
        self.keys = read_keys(self.conf['key_file'])
        self.tpl_html = read_template(self.conf['footer_html'])
        self.tpl_text = read_template(self.conf['footer_text'])
        be = re.escape(self.beacon)
        self.click_prefix = self.beacon + '/c/'
        self.click_re = re.compile(be + r'/c/(%s+)\.([0-9]+)\.([0-9]+)\.(%s+)\.(%s+)/(%s*)' % (B64, B64, B64, B64))
        self.open_re = re.compile(be + r'/o/(%s+)\.([0-9]+)\.(%s+)\.(%s+)\.gif' % (B64, B64, B64))
        self.optout_re = re.compile(be + r'/u/(%s+)\.([0-9]+)\.(%s+)\.(%s+)' % (B64, B64, B64))
        # Our own earlier artefacts: open, opt-out and consent URLs.
        self.artefact_re = re.compile(be + r'/[oua]/[A-Za-z0-9_.-]*', re.I)
        self.pixel_re = re.compile(
            '<img src="(' + self.open_re.pattern + ')" width="1" height="1" alt="" '
            'style="border:0;width:1px;height:1px">')

    def footer_re(self, tpl, sender, escape):
        """The rendered footer as a regex; group 'optout' is the opt-out URL."""
        parts = re.split(r'(\{[a-z_]+\})', tpl)
        rx = ''
        seen_optout = False
        for p in parts:
            if p == '{sender}':
                rx += re.escape(html.escape(sender) if escape else sender)
            elif p == '{privacy_url}':
                rx += re.escape(html.escape(self.conf['privacy_url']) if escape else self.conf['privacy_url'])
            elif p == '{optout_url}':
                g = self.optout_re.pattern.replace('(', '(?:')
                rx += ('(?P=optout)' if seen_optout else '(?P<optout>%s)' % g)
                seen_optout = True
            else:
                rx += r'\r?\n'.join(re.escape(x) for x in re.split(r'\r?\n', p))
        return re.compile(rx)


# ------------------------------------------------------------------ HTML

RAWTEXT = ('script', 'style', 'xmp', 'iframe', 'noembed', 'noframes')
RCDATA = ('textarea', 'title')
ENTITIES = html.entities.html5
ENT_MAX = max(len(k) for k in ENTITIES)
NUMREF = re.compile(r'#[xX]([0-9A-Fa-f]+);?|#([0-9]+);?')
INVALID_CHARREFS = getattr(html, '_invalid_charrefs', {})


def numeric_char(n):
    if n == 0 or n > 0x10FFFF or 0xD800 <= n <= 0xDFFF:
        return '\ufffd'
    if n in INVALID_CHARREFS:
        return INVALID_CHARREFS[n]
    return chr(n)


def decode_attr(s):
    """An attribute value with character references decoded as HTML5 does."""
    out = []
    i = 0
    while True:
        a = s.find('&', i)
        if a < 0:
            out.append(s[i:])
            return ''.join(out)
        out.append(s[i:a])
        k = a + 1
        m = NUMREF.match(s, k)
        if m:
            n = int(m.group(1), 16) if m.group(1) else int(m.group(2))
            out.append(numeric_char(min(n, 0x110000)))
            i = m.end()
            continue
        for length in range(min(ENT_MAX, len(s) - k), 0, -1):
            name = s[k:k + length]
            if name in ENTITIES:
                break
        else:
            out.append('&')
            i = k
            continue
        nxt = s[k + length:k + length + 1]
        if not name.endswith(';') and (nxt == '=' or (nxt.isascii() and nxt.isalnum())):
            out.append('&')          # legacy reference not decoded in attributes
            i = k
            continue
        out.append(ENTITIES[name])
        i = k + length


def is_alpha(c):
    return c.isascii() and c.isalpha()


def parse_tag(s, k):
    """Parses a tag whose name starts at k. Returns (name, attrs, end) where
    attrs is a list of (name, raw value, value start, value end, quote)."""
    n = len(s)
    st = k
    while k < n and s[k] not in WS and s[k] not in '/>':
        k += 1
    name = s[st:k].lower()
    attrs = []
    while k < n:
        while k < n and (s[k] in WS or s[k] == '/'):
            k += 1
        if k >= n:
            break
        if s[k] == '>':
            return name, attrs, k + 1
        st = k
        k += 1
        while k < n and s[k] not in WS and s[k] not in '/>=':
            k += 1
        aname = s[st:k].lower()
        while k < n and s[k] in WS:
            k += 1
        if k < n and s[k] == '=':
            k += 1
            while k < n and s[k] in WS:
                k += 1
            if k < n and s[k] in '"\'':
                q = s[k]
                vs = k + 1
                ve = s.find(q, vs)
                if ve < 0:
                    ve = n
                k = ve + 1
                attrs.append((aname, s[vs:ve], vs, ve, q))
            else:
                vs = k
                while k < n and s[k] not in WS and s[k] != '>':
                    k += 1
                attrs.append((aname, s[vs:k], vs, k, ''))
        else:
            attrs.append((aname, None, None, None, None))
    return name, attrs, n


def scan_html(s, artefact_re=None):
    """Tokenizes HTML well enough to find where markup is. Returns (hrefs,
    base, arts): hrefs maps the start offset of every <a>/<area> href value
    (the first href attribute of the tag) to (raw value, end offset); base
    is the decoded href of the first <base href>, or None; arts maps the
    start offset of every <img> src and <a>/<area> href value that decodes
    to a URL artefact_re matches to (decoded value, end offset, quote,
    element name)."""
    hrefs = {}
    arts = {}
    base = None
    n = len(s)
    i = 0
    while True:
        lt = s.find('<', i)
        if lt < 0:
            break
        if s.startswith('<!--', lt):
            k = lt + 4
            if s.startswith('>', k):
                i = k + 1
            elif s.startswith('->', k):
                i = k + 2
            else:
                m = re.compile(r'--!?>').search(s, k)
                i = m.end() if m else n
            continue
        if s.startswith('<!', lt) or s.startswith('<?', lt):
            e = s.find('>', lt + 2)
            i = e + 1 if e >= 0 else n
            continue
        if s.startswith('</', lt):
            if lt + 2 < n and is_alpha(s[lt + 2]):
                _, _, i = parse_tag(s, lt + 2)
            else:
                e = s.find('>', lt + 2)
                i = e + 1 if e >= 0 else n
            continue
        if lt + 1 < n and is_alpha(s[lt + 1]):
            name, attrs, i = parse_tag(s, lt + 1)
            first = {}
            for a in attrs:
                first.setdefault(a[0], a)
            href = first.get('href')
            if name in ('a', 'area') and href and href[1] is not None:
                hrefs[href[2]] = (href[1], href[3])
            carrier = first.get({'img': 'src', 'a': 'href', 'area': 'href'}.get(name))
            if artefact_re and carrier and carrier[1] is not None:
                v = url_browser_clean(decode_attr(carrier[1]))
                if artefact_re.match(v):
                    arts[carrier[2]] = (v, carrier[3], carrier[4], name)
            if name == 'base' and base is None and href and href[1] is not None:
                base = decode_attr(href[1])
            if name in RAWTEXT or name in RCDATA:
                m = re.compile(r'</' + name + r'[\t\n\f\r />]', re.I).search(s, i)
                i = m.start() if m else n
            elif name == 'plaintext':
                break
            continue
        i = lt + 1
    return hrefs, base, arts


HIDING = ('template', 'select', 'object', 'applet', 'video', 'audio', 'canvas', 'datalist')
VOID = ('area', 'base', 'basefont', 'bgsound', 'br', 'col', 'embed', 'frame', 'hr', 'image',
        'img', 'input', 'keygen', 'link', 'meta', 'param', 'source', 'track', 'wbr')
CLOSES_P = ('address', 'article', 'aside', 'blockquote', 'center', 'details', 'dialog', 'dir',
            'div', 'dl', 'fieldset', 'figcaption', 'figure', 'footer', 'form', 'h1', 'h2', 'h3',
            'h4', 'h5', 'h6', 'header', 'hgroup', 'hr', 'listing', 'main', 'menu', 'nav', 'ol',
            'p', 'pre', 'search', 'section', 'summary', 'ul')
HIDING_CSS = re.compile(r'(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)'
                        r'|mso-hide\s*:\s*all|font-size\s*:\s*0(?![.\d])|opacity\s*:\s*0(?![.\d]))'
                        r'\s*(?:!important\s*)?(?=;|$)', re.I)


def footer_hidden_by(s, at):
    """Why a footer inserted at offset at of the HTML would not be seen, or
    None: inside a comment, tag or raw-text element, or under an open
    element hidden by its inline style, the hidden attribute or what it is.
    Open elements close at their own end tag (any depth) or, for <p>, at a
    start tag that closes a paragraph; this is more lenient than a browser,
    so a hidden element found open is one a browser has open too."""
    stack = []    # (name, hidden)
    i = 0
    while True:
        lt = s.find('<', i, at)
        if lt < 0:
            break
        if s.startswith('<!--', lt):
            m = re.compile(r'--!?>').search(s, lt + 4)
            k = lt + 4
            end = k + 1 if s.startswith('>', k) else k + 2 if s.startswith('->', k) else \
                (m.end() if m else len(s) + 1)
            if end > at:
                return 'inside a comment'
            i = end
            continue
        if s.startswith('<!', lt) or s.startswith('<?', lt) or \
                (s.startswith('</', lt) and not (lt + 2 < len(s) and is_alpha(s[lt + 2]))):
            e = s.find('>', lt + 2)
            if e < 0 or e >= at:
                return 'inside a comment'
            i = e + 1
            continue
        if lt + 1 < len(s) and (is_alpha(s[lt + 1]) or s[lt + 1] == '/'):
            end_tag = s[lt + 1] == '/'
            name, attrs, i = parse_tag(s, lt + 1 + end_tag)
            if i > at or not s.startswith('>', i - 1):
                return 'inside a tag'
            if end_tag:
                for k in range(len(stack) - 1, -1, -1):
                    if stack[k][0] == name:
                        del stack[k:]
                        break
                continue
            if name in RAWTEXT or name in RCDATA:
                m = re.compile(r'</' + name + r'[\t\n\f\r />]', re.I).search(s, i)
                if not m or m.start() >= at:
                    return 'inside <%s>' % name
                i = m.start()
                continue
            if name == 'plaintext':
                return 'inside <plaintext>'
            if name in CLOSES_P:
                for k in range(len(stack) - 1, -1, -1):
                    if stack[k][0] == 'p':
                        del stack[k:]
                        break
            first = {}
            for a in attrs:
                first.setdefault(a[0], a)
            style = decode_attr(first['style'][1] or '') if 'style' in first else ''
            hidden = 'hidden' in first or bool(HIDING_CSS.search(style)) or name in HIDING
            if name in ('body', 'html'):
                if hidden:
                    return 'the body is hidden'
                continue
            if name not in VOID and name != 'head':
                stack.append((name, hidden))
            continue
        i = lt + 1
    hidden = [n for n, h in stack if h]
    return 'inside hidden <%s>' % hidden[0] if hidden else None


def url_browser_clean(url):
    """What the WHATWG URL parser does first: trims C0 controls and spaces
    at both ends and removes every tab, CR and LF (e.g. from &NewLine;)."""
    return re.sub(r'[\t\n\r]', '', url.strip(''.join(map(chr, range(0x21)))))


def resolve(url, base):
    if base is None or re.match(r'[A-Za-z][A-Za-z0-9+.-]*:', url):
        return url
    return urllib.parse.urljoin(base, url)


def text_url_extent(s, i):
    m = re.compile(r'https?://[^\s<>"\x00-\x1f\x7f]+', re.I).match(s, i)
    if not m:
        return None
    u = m.group(0)
    while u:
        if u[-1] in '.,;:!?>]':
            u = u[:-1]
        elif u[-1] == ')' and u.count('(') < u.count(')'):
            u = u[:-1]
        else:
            break
    return u


def flowed_soft(line):
    """RFC 3676: (quote depth, is a soft break) of a line without its line
    break; the signature separator "-- " is never soft."""
    depth = len(line) - len(line.lstrip('>'))
    body = line[depth:]
    if body.startswith(' '):
        body = body[1:]
    return depth, body != '-- ' and body.endswith(' ')


def flowed_join(s, delsp):
    """The text a format=flowed reader sees, and for each of its characters
    the offset in s it comes from."""
    out, where = [], []
    lines = s.split('\n')
    pos, skip = 0, 0      # skip: quote marks and stuffing of a joined line
    for n, line in enumerate(lines):
        last = n == len(lines) - 1
        content = line[:-1] if line.endswith('\r') else line
        depth, soft = flowed_soft(content)
        nxt = None
        if soft and not last and not (n + 1 == len(lines) - 1 and lines[n + 1] == ''):
            nxt = lines[n + 1][:-1] if lines[n + 1].endswith('\r') else lines[n + 1]
            if flowed_soft(nxt)[0] != depth:
                nxt = None
        end = len(content) - (1 if delsp else 0) if nxt is not None else len(line) + (0 if last else 1)
        for k in range(skip, end):
            out.append(s[pos + k])
            where.append(pos + k)
        skip = 0
        if nxt is not None:
            d = flowed_soft(nxt)[0]
            skip = d + (1 if nxt[d:d + 1] == ' ' else 0)
        pos += len(line) + 1
    return ''.join(out), where


def flowed_urls(s, delsp):
    """{offset in s: length} of each URL a flowed reader sees whose
    characters are consecutive in s (it crosses no soft break)."""
    text, where = flowed_join(s, delsp)
    urls = {}
    for m in re.finditer(r'https?://', text, re.I):
        i = m.start()
        if i and ((text[i - 1].isascii() and text[i - 1].isalnum()) or text[i - 1] == '/'):
            continue
        u = text_url_extent(text, i)
        if u and where[i + len(u) - 1] - where[i] == len(u) - 1:
            urls[where[i]] = len(u)
    return urls


def show(s, i, width=40):
    return repr(s[max(0, i - width):i]) + '|' + repr(s[i:i + width])


# ------------------------------------------------------------------ MIME helpers

def raw_payload(p):
    return p._payload.encode('ascii', 'surrogateescape')


def cte_of(p):
    v = p.get('content-transfer-encoding')
    return (v or '7bit').strip().lower()


def decode_cte(raw, cte, strict, what):
    if cte == 'base64':
        if strict:
            compact = re.sub(rb'[ \t\r\n]', b'', raw)
            if len(compact) % 4 or not re.fullmatch(rb'[A-Za-z0-9+/]*={0,2}', compact):
                raise Fail('%s: output base64 is not valid' % what)
            return base64.b64decode(compact, validate=True)
        return binascii.a2b_base64(raw)
    if cte == 'quoted-printable':
        if strict:
            for ln in raw.split(b'\n'):
                if ln.endswith(b'\r'):
                    ln = ln[:-1]
                if len(ln) > 76:
                    raise Fail('%s: quoted-printable line of %d octets' % (what, len(ln)))
                if ln[-1:] in (b' ', b'\t'):
                    raise Fail('%s: quoted-printable line ends in white space' % what)
                if not re.fullmatch(rb'(?:[\t\x20-\x3c\x3e-\x7e]|=[0-9A-F]{2})*=?', ln):
                    raise Fail('%s: invalid quoted-printable line %r' % (what, ln[:80]))
        return binascii.a2b_qp(raw)
    if strict and cte == '7bit' and re.search(rb'[\x80-\xff\x00]', raw):
        raise Fail('%s: 8-bit data in a 7bit part' % what)
    return raw


def codec_for(p):
    cs = p.get_content_charset('us-ascii')
    try:
        return codecs.lookup(cs).name
    except LookupError:
        raise Fail('unknown charset %r in an edited part' % cs)


def body_parts(p):
    """The body text parts of p, per SPEC "What the milter does"."""
    ct = p.get_content_type()
    if p.get_content_maintype() == 'message':
        return []
    if p.is_multipart():
        sub = p.get_payload()
        if ct == 'multipart/alternative':
            return [x for s in sub for x in body_parts(s)]
        return body_parts(sub[0]) if sub else []
    if ct in ('text/plain', 'text/html'):
        disp = (p.get('content-disposition') or '').split(';')[0].strip().lower()
        if disp != 'attachment':
            return [p]
    return []


def compare_headers(hin, hout, what, errs, top=False, edited_leaf=False, receipt=False, sender=''):
    """Returns the X-Mailbeacon value (top level) or None."""
    drop = {'content-transfer-encoding'}
    xm = None
    if top:
        drop |= {'x-mailbeacon', 'disposition-notification-to'}
        xin = [v for k, v in hin if k.lower() == 'x-mailbeacon']
        xout = [v for k, v in hout if k.lower() == 'x-mailbeacon']
        if len(xout) != len(xin) + 1:
            errs.append('X-Mailbeacon added %d times' % (len(xout) - len(xin)))
        elif xout:
            xm = xout[-1]
        din = [v for k, v in hin if k.lower() == 'disposition-notification-to']
        dout = [v for k, v in hout if k.lower() == 'disposition-notification-to']
        want = 1 if receipt else 0
        if len(dout) - len(din) != want:
            errs.append('Disposition-Notification-To added %d times, expected %d' % (len(dout) - len(din), want))
        elif receipt and sender.lower() not in dout[-1].lower():
            errs.append('Disposition-Notification-To %r does not name %s' % (dout[-1], sender))
    rin = [(k, v) for k, v in hin if k.lower() not in drop]
    rout = [(k, v) for k, v in hout if k.lower() not in drop]
    if rin != rout:
        for a, b in zip(rin + [None] * len(rout), rout + [None] * len(rin)):
            if a != b:
                errs.append('%s: header changed: %r -> %r' % (what, a, b))
                break
    cin = [v for k, v in hin if k.lower() == 'content-transfer-encoding']
    cout = [v for k, v in hout if k.lower() == 'content-transfer-encoding']
    if cin != cout:
        a = cin[0].strip().lower() if cin else '7bit'
        b = cout[0].strip().lower() if len(cout) == 1 else None
        if not (edited_leaf and len(cin) <= 1 and a in ('7bit', '8bit') and b == 'quoted-printable'):
            errs.append('%s: Content-Transfer-Encoding %r -> %r' % (what, cin, cout))
    return xm


# ------------------------------------------------------------------ the walk

class PartResult:
    def __init__(self):
        self.clicks = []      # (url, match, expected destination)
        self.pixels = []      # urls
        self.optouts = []     # urls
        self.footers = 0
        self.neutralised = 0


def walk_html(ctx, inp, out, sender, what):
    res = PartResult()
    hrefs, base, arts = scan_html(inp, ctx.artefact_re)
    blanked = set()
    footer_re = ctx.footer_re(ctx.tpl_html, sender, True)
    ends = [m.start() for m in re.finditer(r'</body', inp, re.I)]

    def placement_ok(i):
        if ends:
            return i == ends[-1]
        return re.fullmatch(r'\s*(?:</html\s*>\s*)?', inp[i:], re.I) is not None

    i = j = 0
    n, m_ = len(inp), len(out)
    while j < m_:
        if i in arts and i not in blanked:
            # An earlier artefact: its value must be gone ("" if unquoted).
            blanked.add(i)
            if arts[i][2] == '':
                if not out.startswith('""', j):
                    raise Fail('%s: earlier artefact %r kept at %s' % (what, arts[i][0], show(inp, i)))
                j += 2
            i = arts[i][1]
            res.neutralised += 1
            continue
        c = out[j]
        if c == '<':
            m = ctx.pixel_re.match(out, j)
            if m and inp[i:i + len(m.group(0))] != m.group(0):
                if not placement_ok(i):
                    raise Fail('%s: pixel inserted at %s, not before </body> (or at the end)' % (what, show(inp, i)))
                res.pixels.append(m.group(1))
                j = m.end()
                continue
            m = footer_re.match(out, j)
            if m and inp[i:i + len(m.group(0))] != m.group(0):
                if not placement_ok(i):
                    raise Fail('%s: footer inserted at %s, not before </body> (or at the end)' % (what, show(inp, i)))
                hidden_by = footer_hidden_by(inp, i)
                if hidden_by:
                    raise Fail('%s: footer inserted where a reader does not see it: %s' % (what, hidden_by))
                res.footers += 1
                res.optouts.append(m.group('optout'))
                j = m.end()
                if j < m_ and out[j] in '\r\n' and (i >= n or inp[i] != out[j]):
                    j += 2 if out.startswith('\r\n', j) else 1
                continue
        elif c == 'h' and out.startswith(ctx.click_prefix, j):
            m = ctx.click_re.match(out, j)
            if m and inp[i:i + len(m.group(0))] != m.group(0):
                if i not in hrefs:
                    raise Fail('%s: click URL where the input has no <a>/<area> href value: %s'
                               % (what, show(inp, i)))
                raw, end = hrefs[i]
                dest = resolve(url_browser_clean(decode_attr(raw)), base)
                if not re.match(r'https?://', dest, re.I):
                    raise Fail('%s: rewrote a link that is not http(s): %r' % (what, raw))
                res.clicks.append((m.group(0), m, dest))
                i = end
                j = m.end()
                continue
        if i < n and inp[i] == c:
            i += 1
            j += 1
            continue
        raise Fail('%s: output differs from input at input %s / output %s' % (what, show(inp, i), show(out, j)))
    if i != n:
        raise Fail('%s: output ends before the input; input left: %r' % (what, inp[i:i + 80]))
    if len(blanked) != len(arts):
        raise Fail('%s: %d earlier artefacts, %d blanked' % (what, len(arts), len(blanked)))
    _, _, out_arts = scan_html(out, ctx.artefact_re)
    pixels = [v for v, _, _, name in out_arts.values() if name == 'img']
    links = [v for v, _, _, name in out_arts.values() if name != 'img']
    if sorted(pixels) != sorted(res.pixels) or sorted(links) != sorted(res.optouts):
        raise Fail('%s: the output carries pixels %r and opt-out links %r, its own are %r and %r'
                   % (what, pixels, links, res.pixels, res.optouts))
    return res


def walk_text(ctx, inp, out, sender, what, flowed=None):
    """flowed: None, or delsp (bool) for a format=flowed part: clicks must
    then be URLs as a flowed reader joins them, and the footer must not be
    joined to the last line."""
    res = PartResult()
    whole = flowed_urls(inp, flowed) if flowed is not None else None
    footer_re = ctx.footer_re(ctx.tpl_text, sender, False)
    found = list(footer_re.finditer(out))
    if len(found) != 1:
        raise Fail('%s: %d text footers found, expected 1' % (what, len(found)))
    fm = found[0]
    if out[fm.end():] not in ('', '\n', '\r\n'):
        raise Fail('%s: text after the footer: %r' % (what, out[fm.end():fm.end() + 60]))
    res.footers = 1
    res.optouts.append(fm.group('optout'))
    pre = out[:fm.start()]
    if ctx.artefact_re.search(pre):
        raise Fail('%s: an earlier tracking URL kept: %r' % (what, ctx.artefact_re.search(pre).group(0)))
    if pre and not pre.endswith('\n'):
        raise Fail('%s: footer does not start on a new line: %r' % (what, pre[-40:]))
    before = pre[:-2] if pre.endswith('\r\n') else pre[:-1]
    if flowed is not None and pre and flowed_soft(before.split('\n')[-1].rstrip('\r'))[1]:
        raise Fail('%s: format=flowed: the footer is joined to the last line %r' % (what, pre[-40:]))

    def walk(o):
        clicks = []
        i = j = 0
        while j < len(o):
            am = ctx.artefact_re.match(inp, i)
            if am and o.startswith(ARTEFACT_NOTICE, j):
                res.neutralised += 1
                i = am.end()
                j += len(ARTEFACT_NOTICE)
                continue
            if o.startswith(ctx.click_prefix, j):
                m = ctx.click_re.match(o, j)
                if m and inp[i:i + len(m.group(0))] != m.group(0):
                    ext = text_url_extent(inp, i)
                    if not ext:
                        return None, 'click URL where the input has no URL: %s' % show(inp, i)
                    if whole is not None and whole.get(i) != len(ext):
                        return None, ('format=flowed: click URL for %r, not a whole URL as a flowed '
                                      'reader joins it: %s' % (ext, show(inp, i)))
                    clicks.append((m.group(0), m, ext))
                    i += len(ext)
                    j = m.end()
                    continue
            if i < len(inp) and inp[i] == o[j]:
                i += 1
                j += 1
                continue
            return None, 'output differs from input at input %s / output %s' % (show(inp, i), show(o, j))
        if i != len(inp):
            return None, 'output ends before the input; input left: %r' % inp[i:i + 80]
        return clicks, None

    clicks, err = walk(pre)
    if clicks is None:
        for lb in ('\r\n', '\n'):
            if pre.endswith(lb):
                clicks, err2 = walk(pre[:-len(lb)])
                if clicks is not None:
                    break
    if clicks is None:
        raise Fail('%s: %s' % (what, err))
    res.clicks = clicks
    return res


def check_line_endings(inb, outb, what, errs, default_crlf=None):
    """The output keeps the input's line ending convention; an input without
    line breaks has the message's (default_crlf)."""
    in_crlf, in_lf = inb.count(b'\r\n'), inb.count(b'\n')
    out_crlf, out_lf = outb.count(b'\r\n'), outb.count(b'\n')
    if not in_lf and default_crlf is not None:
        in_lf, in_crlf = 1, (1 if default_crlf else 0)
    if in_lf and in_crlf == in_lf and out_crlf != out_lf:
        errs.append('%s: %d bare LF in output of a CRLF input' % (what, out_lf - out_crlf))
    if in_lf and in_crlf == 0 and out_crlf:
        errs.append('%s: %d CRLF in output of an LF input' % (what, out_crlf))


def check_edited_part(ctx, pin, pout, what, sender, errs, crlf):
    cin, cout = cte_of(pin), cte_of(pout)
    din = decode_cte(raw_payload(pin), cin, False, what)
    dout = decode_cte(raw_payload(pout), cout, True, what)
    codec = codec_for(pin)
    if cin != cout:
        long_line = any(len(x.rstrip(b'\r')) > 998 for x in dout.split(b'\n'))
        new8 = cin == '7bit' and re.search(rb'[\x80-\xff]', dout)
        if not (long_line or new8):
            errs.append('%s: switched %s to %s without need' % (what, cin, cout))
    check_line_endings(din, dout, what + ' (decoded)', errs, None if cin == 'base64' else crlf)
    tin = din.decode(codec, 'surrogateescape')
    tout = dout.decode(codec, 'surrogateescape')
    if pin.get_content_type() == 'text/html':
        return walk_html(ctx, tin, tout, sender, what)
    flowed = None
    if (pin.get_param('format') or '').lower() == 'flowed':
        flowed = (pin.get_param('delsp') or '').lower() == 'yes'
    return walk_text(ctx, tin, tout, sender, what, flowed)


# ------------------------------------------------------------------ tokens

def parse_token(ctx, url):
    for kind, rx in (('c', ctx.click_re), ('o', ctx.open_re), ('u', ctx.optout_re)):
        m = rx.fullmatch(url)
        if m:
            g = m.groups()
            if kind == 'c':
                return dict(kind='c', msgid=g[0], sent=g[1], link=g[2], kid=g[3], tag=g[4], dest64=g[5])
            return dict(kind=kind, msgid=g[0], sent=g[1], link='', kid=g[2], tag=g[3], dest64='')
    return None


def py_verify(ctx, t):
    """Returns an error string or None; sets t['dest'] (bytes)."""
    keys = dict(ctx.keys)
    if t['kid'] not in keys:
        return 'unknown key id %r' % t['kid']
    try:
        dest = b64url_decode(t['dest64']) if t['kind'] == 'c' else b''
    except (binascii.Error, ValueError):
        return 'destination is not base64url'
    if t['kind'] == 'c' and b64url_encode(dest) != t['dest64']:
        return 'destination base64url is not canonical'
    t['dest'] = dest
    data = b'\0'.join([b'mailbeacon-v1', t['kind'].encode(), t['msgid'].encode(), t['sent'].encode(),
                       t['link'].encode(), t['kid'].encode(), dest])
    tag = b64url_encode(hmac.new(keys[t['kid']], data, hashlib.sha256).digest()[:16])
    if not hmac.compare_digest(tag, t['tag']):
        return 'HMAC mismatch (expected tag %s)' % tag
    return None


KINDS = {'o': 'o', 'open': 'o', 'c': 'c', 'click': 'c', 'u': 'u', 'optout': 'u', 'opt-out': 'u'}


def tamper(url):
    m = re.search(r'\.(%s+)(?:\.gif|/|$)' % B64, url)
    k = m.start(1)
    return url[:k] + ('B' if url[k] == 'A' else 'A') + url[k + 1:]


def verify_tokens(ctx, urls, errs):
    """urls: list of (url, expected destination str or None). Returns tokens."""
    tokens = []
    for url, _ in urls:
        t = parse_token(ctx, url)
        if t is None:
            errs.append('unparsable token URL %s' % url)
            return []
        tokens.append(t)
    if not urls:
        return tokens
    lines = [u for u, _ in urls] + [tamper(urls[0][0])]
    p = subprocess.run([ctx.binary, '-c', ctx.conf_path, 'token', 'verify'],
                       input=('\n'.join(lines) + '\n').encode(), capture_output=True, timeout=60)
    outl = p.stdout.decode('utf-8', 'surrogateescape').split('\n')
    if outl and outl[-1] == '':
        outl.pop()
    # exit 2 tells that some URL was bad (the tampered one is)
    if p.returncode not in (0, 2) or len(outl) != len(lines):
        errs.append('token verify: exit %d, %d lines for %d URLs: %s' % (
            p.returncode, len(outl), len(lines), p.stderr.decode(errors='replace').strip()[:200]))
        return tokens
    if not outl[-1].startswith('bad\t'):
        errs.append('token verify accepted a tampered URL: %s' % outl[-1])
    for (url, want), t, line in zip(urls, tokens, outl):
        err = py_verify(ctx, t)
        if err:
            errs.append('%s: %s' % (url, err))
            continue
        f = line.split('\t')
        if f[0] != 'ok' or len(f) != 7:
            errs.append('token verify rejected %s: %s' % (url, line))
            continue
        _, kind, msgid, sent, link, kid, dest = f
        dest_b = dest.encode('utf-8', 'surrogateescape')
        mine = (t['kind'], t['msgid'], t['sent'], t['link'] or '-', t['kid'], t['dest'] if t['kind'] == 'c' else b'-')
        theirs = (KINDS.get(kind, kind), msgid, sent, link, kid, dest_b)
        if mine != theirs:
            errs.append('token verify disagrees for %s: %r vs %r' % (url, theirs, mine))
        if t['kid'] != ctx.keys[0][0]:
            errs.append('%s signed with key %s, not the first key %s' % (url, t['kid'], ctx.keys[0][0]))
        if want is not None:
            try:
                got = t['dest'].decode('utf-8')
            except UnicodeDecodeError:
                got = t['dest']
            if got != want:
                errs.append('click destination %r, expected %r' % (got, want))
    return tokens


# ------------------------------------------------------------------ one message

def parse(data):
    return BytesParser(policy=email_policy.compat32).parsebytes(data)


def check_edited(ctx, data, out, opts, errs):
    sender = opts.get('from', 'alice@example.com')
    for ln in out.split(b'\n'):
        if len(ln.rstrip(b'\r')) > 998:
            errs.append('output line of %d octets' % len(ln.rstrip(b'\r')))
            break
    check_line_endings(data, out, 'message', errs)
    min_, mout = parse(data), parse(out)
    pin, pout = list(min_.walk()), list(mout.walk())
    tin = [p.get_content_type() for p in pin]
    tout = [p.get_content_type() for p in pout]
    if tin != tout:
        raise Fail('MIME tree differs: %s -> %s' % (tin, tout))
    for k, (a, b) in enumerate(zip(pin, pout)):
        da = {type(d).__name__ for d in a.defects}
        db = {type(d).__name__ for d in b.defects}
        if not db <= da:
            errs.append('part %d (%s): new defects %s' % (k, tin[k], sorted(db - da)))
    body = {id(p) for p in body_parts(min_)}
    results = []
    xm = None
    for k, (a, b) in enumerate(zip(pin, pout)):
        what = 'part %d (%s)' % (k, tin[k])
        leaf = not a.is_multipart()
        if leaf != (not b.is_multipart()):
            raise Fail('%s: multipart-ness differs' % what)
        if not leaf:
            x = compare_headers(a._headers, b._headers, what, errs, top=(k == 0),
                                receipt=opts.get('receipt') == '1', sender=sender)
            if k == 0:
                xm = x
            if a.preamble != b.preamble or a.epilogue != b.epilogue:
                errs.append('%s: preamble or epilogue changed' % what)
            continue
        hout = b._headers
        if k == 0:
            # a single-part message: its headers are the top-level ones
            xm = compare_headers(a._headers, b._headers, what, errs, top=True, edited_leaf=id(a) in body,
                                 receipt=opts.get('receipt') == '1', sender=sender)
            hout = [h for h in hout if h[0].lower() not in ('x-mailbeacon', 'disposition-notification-to')]
        changed = a._headers != hout or raw_payload(a) != raw_payload(b)
        if id(a) not in body:
            if changed:
                errs.append('%s: not a body part but changed' % what)
            continue
        if not changed:
            errs.append('%s: body part not edited (no footer)' % what)
            continue
        if k != 0:
            compare_headers(a._headers, b._headers, what, errs, edited_leaf=True)
        try:
            r = check_edited_part(ctx, a, b, what, sender, errs, b'\r\n' in data)
        except Fail as e:
            errs.append(str(e))
            results.append((tin[k], None))
            continue
        if r.footers != 1:
            errs.append('%s: %d footers' % (what, r.footers))
        if tin[k] != 'text/html' and r.pixels:
            errs.append('%s: pixel in a text part' % what)
        results.append((tin[k], r))
    return results, xm


def check_message(ctx, corpus, entry):
    fname, expect, reason, opts = entry
    with open(os.path.join(corpus, fname), 'rb') as f:
        data = f.read()
    frm = opts.get('from', 'alice@example.com')
    to = opts.get('to', 'rcpt@example.net')
    p = subprocess.run([ctx.binary, '-c', ctx.conf_path, 'preview', '--from', frm, '--to', to],
                       input=data, capture_output=True, timeout=120)
    if os.environ.get('CORPUS_OUT_DIR'):
        with open(os.path.join(os.environ['CORPUS_OUT_DIR'], fname + '.out'), 'wb') as f:
            f.write(p.stdout)
    stderr = p.stderr.decode('utf-8', 'replace')
    if p.returncode != 0:
        return ['exit status %d: %s' % (p.returncode, stderr.strip()[:300])]
    m = re.search(r'untouched: (.*)', stderr)
    said = m.group(1).strip() if m else None
    errs = []
    if expect == 'untouched':
        if said is None:
            errs.append('expected untouched (%s), preview edited it' % reason)
        elif not said.startswith(reason):
            errs.append('untouched for %r, expected %r' % (said, reason))
        if p.stdout != data:
            errs.append('untouched, but the output differs from the input')
        return errs
    if said is not None:
        return ['expected edited, preview says untouched: %s' % said]
    if p.stdout == data:
        return ['expected edited, output identical to the input']
    try:
        results, xm = check_edited(ctx, data, p.stdout, opts, errs)
    except Fail as e:
        return errs + [str(e)]
    if any(r is None for _, r in results):
        return errs      # counts and tokens mean little when a part could not be followed
    urls = []
    for ct, r in results:
        urls += [(u, dest) for u, _, dest in r.clicks]
        urls += [(u, None) for u in r.pixels + r.optouts]
    tokens = verify_tokens(ctx, urls, errs)
    ids = {(t['msgid'], t['sent']) for t in tokens}
    if len(ids) > 1:
        errs.append('tokens name %d different messages' % len(ids))
    for msgid, sent in ids:
        if len(msgid) != 22 or len(b64url_decode(msgid)) != 16:
            errs.append('message id %r is not 128 bits base64url' % msgid)
        if abs(int(sent) - time.time()) > 86400:
            errs.append('sent time %s is not now' % sent)
        if xm is None or xm.split(';')[0].strip() != msgid:
            errs.append('X-Mailbeacon %r does not name message id %s' % (xm, msgid))
    links = {}
    for t in tokens:
        if t['kind'] == 'c':
            if links.setdefault(t['link'], t.get('dest')) != t.get('dest'):
                errs.append('link number %s used for two destinations' % t['link'])
    if links and sorted(int(x) for x in links) != list(range(1, len(links) + 1)):
        errs.append('link numbers %s do not run from 1' % sorted(int(x) for x in links))
    nclicks = sum(len(r.clicks) for _, r in results)
    npixels = sum(len(r.pixels) for _, r in results)
    if 'links' in opts and nclicks != int(opts['links']):
        errs.append('%d links rewritten, expected %s' % (nclicks, opts['links']))
    words = xm.split(';', 1)[1].split() if xm and ';' in xm else []
    if ('opens' in words) != (npixels > 0) or 'footer' not in words or \
            ('receipt' in words) != (opts.get('receipt') == '1') or \
            (nclicks and not {'clicks', 'text-clicks'} & set(words)):
        errs.append('X-Mailbeacon words %r do not match what was done' % words)
    want_pixels = int(opts.get('pixel', 1 if any(ct == 'text/html' for ct, _ in results) else 0))
    if npixels != want_pixels:
        errs.append('%d pixels, expected %d' % (npixels, want_pixels))
    return errs


def read_manifest(corpus):
    entries = []
    with open(os.path.join(corpus, 'MANIFEST'), encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip('\n')
            if not line.strip() or line.startswith('#'):
                continue
            fields = line.split('\t')
            if len(fields) < 3 or fields[1] not in ('edited', 'untouched') or \
                    (fields[1] == 'edited') != (fields[2] == '-'):
                sys.exit('MANIFEST:%d: malformed line' % n)
            opts = {}
            for kv in fields[3:]:
                k, sep, v = kv.partition('=')
                if not sep or k not in ('from', 'to', 'links', 'pixel', 'receipt'):
                    sys.exit('MANIFEST:%d: bad option %r' % (n, kv))
                opts[k] = v
            entries.append((fields[0], fields[1], fields[2], opts))
    return entries


def main():
    if len(sys.argv) != 4:
        sys.exit('usage: check.py MAILBEACON_BINARY CONFIG_DIR CORPUS_DIR')
    binary, confdir, corpus = sys.argv[1:]
    ctx = Ctx(binary, confdir)
    entries = read_manifest(corpus)
    listed = {e[0] for e in entries}
    passed = failed = 0
    for extra in sorted(set(f for f in os.listdir(corpus) if f.endswith('.eml')) - listed):
        print('FAIL %s: not listed in MANIFEST' % extra)
        failed += 1
    for entry in entries:
        try:
            errs = check_message(ctx, corpus, entry)
        except Exception as e:  # a checker crash is a failure of this message, not of the run
            errs = ['checker error: %s: %s' % (type(e).__name__, e)]
        if errs:
            failed += 1
            print('FAIL %s: %s' % (entry[0], '; '.join(e[:400] for e in errs)))
        else:
            passed += 1
            print('ok %s' % entry[0])
        sys.stdout.flush()
    print('%d passed, %d failed' % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
