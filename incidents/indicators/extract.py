"""Finding candidate indicators in pasted text (an e-mail with its headers, a log excerpt, a
vendor's advisory): hand-written regular expressions over the refanged text, each match then
validated and normalized by ``normalize`` (a match that does not normalize is dropped).

What is looked for, in this order; a later kind never matches inside an earlier one's span
(the domain of a URL or an e-mail address is not proposed a second time, nor the version
numbers of a user agent as an IP address):

1. user agents: ``Mozilla/…`` or ``Opera/…`` to the end of the quoted string or line, and
   well-known tools (``curl/8.4.0``, ``python-requests/2.31``, ``Go-http-client/1.1``…);
2. URLs with a scheme (``http``, ``https``, ``ftp``), trailing punctuation trimmed;
3. e-mail addresses (not on ``Message-ID``/``In-Reply-To``/``References`` header lines: those
   are message ids that only look like addresses);
4. SHA-256, SHA-1 and MD5 hashes (64, 40, 32 hex digits, as whole words);
5. IPv4 addresses and networks, IPv6 addresses and networks;
6. accounts written ``DOMAIN\\user`` (the domain in capitals, as Windows logs write it);
7. file names with an extension attackers use (``.exe``, ``.dll``, ``.ps1``, ``.lnk``, ``.iso``…),
   the base name of a path;
8. domains, only when the last label is a two-letter country code (minus a few that are
   usually file extensions) or one of the generic TLDs in ``_GENERIC_TLDS``: without that,
   ``header.from`` or ``invoice.pdf`` would be proposed. Anything missed can be added by hand.

Host names without dots are not extracted (too many ordinary words look like them).
Each candidate says whether it is "ours" (``normalize.is_ours``): those are proposed as
affected assets, never as attacker-side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from ..models import IndicatorRole, IndicatorType
from .normalize import is_ours, normalize, refang

T = IndicatorType
TEXT_MAX_CHARS = 200_000
CANDIDATES_MAX = 500

_GENERIC_TLDS = frozenset(
    [
        "com",
        "net",
        "org",
        "info",
        "biz",
        "io",
        "co",
        "me",
        "xyz",
        "top",
        "online",
        "site",
        "shop",
        "club",
        "app",
        "dev",
        "cloud",
        "tech",
        "live",
        "store",
        "pro",
        "mobi",
        "name",
        "asia",
        "tel",
        "travel",
        "jobs",
        "edu",
        "gov",
        "mil",
        "int",
        "arpa",
        "icu",
        "buzz",
        "vip",
        "work",
        "link",
        "click",
        "space",
        "website",
        "fun",
        "rest",
        "bond",
        "cfd",
        "sbs",
        "support",
        "email",
        "digital",
        "network",
        "services",
        "solutions",
        "agency",
        "onion",
        "page",
        "blog",
        "news",
        "host",
        "example",
        "test",
        "local",
        "internal",
        "lan",
        "corp",
    ]
)
_NOT_TLDS = frozenset({"js", "py", "sh", "md", "rs", "gz", "xz", "db", "ps", "cs", "rb"})
_FILE_EXTENSIONS = (
    "exe|dll|sys|ps1|psm1|bat|cmd|vbs|vbe|js|jse|wsf|hta|scr|lnk|iso|img|vhd|zip|rar|7z|cab|msi|jar|"
    "docm|xlsm|pptm|one|sh|elf|so|bin|apk"
)
_USER_AGENT = re.compile(
    r"\b(?:Mozilla|Opera)/\d+\.\d+[^\"\n\r]*"
    r"|\b(?:curl|Wget|python-requests|python-urllib|Go-http-client|okhttp|libwww-perl|sqlmap|masscan|zgrab"
    r"|WindowsPowerShell)/[\w.\-]+",
    re.IGNORECASE,
)
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'`]+", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.+-])[a-z0-9._%+-]{1,64}@(?:[a-z0-9-]{1,63}\.)+[a-z]{2,63}(?![\w-])", re.IGNORECASE)
_ID_HEADERS = re.compile(r"^(?:Message-ID|In-Reply-To|References):.*$", re.IGNORECASE | re.MULTILINE)
_HASHES = ((T.SHA256, 64), (T.SHA1, 40), (T.MD5, 32))
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?![\w.]*\w)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?:/\d{1,3})?(?![\w:])", re.IGNORECASE)
_ACCOUNT = re.compile(r"(?<![\w\\:])[A-Z][A-Z0-9-]{1,14}\\[A-Za-z0-9._$-]{1,64}(?![\w\\])")
_FILENAME = re.compile(rf"(?<![\w.-])[\w.-]{{1,200}}\.(?:{_FILE_EXTENSIONS})(?![\w-])(?!\.\w)", re.IGNORECASE)
_DOMAIN = re.compile(
    r"(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(?![\w-])(?!\.[a-z0-9])", re.IGNORECASE
)
_TRAILING = ".,;:!?)]}>'\""


@dataclass(frozen=True)
class Candidate:
    type: str
    value: str
    ours: bool

    @property
    def role(self) -> str:
        """What it is proposed as: an affected asset if it is ours, else attacker-side."""
        return IndicatorRole.AFFECTED if self.ours else IndicatorRole.ATTACKER

    @property
    def key(self) -> str:
        """``type:value``, how the confirm form names a picked candidate."""
        return f"{self.type}:{self.value}"


def _domain_shaped(name: str) -> bool:
    tld = name.rsplit(".", 1)[-1].lower()
    if tld in _NOT_TLDS:
        return False
    return tld in _GENERIC_TLDS or (len(tld) == 2 and tld.isalpha())


def extract(text: str) -> list[Candidate]:
    """Candidate indicators in ``text``, in order of first appearance, each (type, value) once,
    at most ``CANDIDATES_MAX``."""
    text = refang(text[:TEXT_MAX_CHARS])
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, Candidate]] = []
    seen: set[tuple[str, str]] = set()

    def inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
        return any(start < span_end and span_start < end for span_start, span_end in spans)

    def offer(kind: str, raw: str, start: int, end: int, *, ignore: list[tuple[int, int]] = ()) -> None:
        if inside(start, end, taken) or inside(start, end, list(ignore)):
            return
        try:
            value = normalize(kind, raw)
        except ValidationError:
            return
        taken.append((start, end))
        if (kind, value) in seen:
            return
        seen.add((kind, value))
        found.append((start, Candidate(type=str(kind), value=value, ours=is_ours(kind, value))))

    for match in _USER_AGENT.finditer(text):
        agent = match.group().rstrip(" ;,")
        offer(T.USER_AGENT, agent, match.start(), match.start() + len(agent))
    for match in _URL.finditer(text):
        url = match.group().rstrip(_TRAILING)
        offer(T.URL, url, match.start(), match.start() + len(url))
    id_lines = [m.span() for m in _ID_HEADERS.finditer(text)]
    for match in _EMAIL.finditer(text):
        offer(T.EMAIL, match.group(), *match.span(), ignore=id_lines)
    for kind, length in _HASHES:
        for match in re.finditer(rf"(?<![0-9a-f])[0-9a-f]{{{length}}}(?![0-9a-f])", text, re.IGNORECASE):
            offer(kind, match.group(), *match.span())
    for pattern in (_IPV4, _IPV6):
        for match in pattern.finditer(text):
            if pattern is _IPV6 and match.group().count(":") < 2:
                continue
            offer(T.IP, match.group(), *match.span())
    for match in _ACCOUNT.finditer(text):
        offer(T.ACCOUNT, match.group(), *match.span())
    for match in _FILENAME.finditer(text):
        offer(T.FILENAME, match.group(), *match.span())
    for match in _DOMAIN.finditer(text):
        if _domain_shaped(match.group()):
            offer(T.DOMAIN, match.group(), *match.span())
    found.sort(key=lambda item: item[0])
    return [candidate for _, candidate in found[:CANDIDATES_MAX]]
