"""Refanging, validating and normalizing indicator values, one function per type.

``normalize(type, raw)`` returns the canonical form stored in ``Indicator.value`` (and compared
across incidents) or raises ``ValidationError({"value": [message]})`` saying what is wrong. The
canonical forms:

- ip: ``ipaddress``'s compressed form (IPv6 ``2001:db8::1``); a network as ``10.0.0.0/8`` (host
  bits cleared); a /32 or /128 is the address itself; IPv4-mapped IPv6 stays IPv6.
- domain, hostname: lower case, no trailing dot, IDNA (UTS #46 mapping, IDNA 2008) to the ASCII
  ``xn--`` form, labels of letters, digits, hyphens (and ``_`` for service labels).
- url: scheme and host lower case, host IDNA-encoded (or a canonical IP), default port dropped,
  an empty http(s) path is ``/``, the fragment dropped (never sent to a server), non-ASCII in the
  path and query percent-encoded; the rest as given (paths are case-sensitive).
- email: lower case (no mail system we meet treats the local part case-sensitively), domain as
  a domain.
- sha256/sha1/md5: lower-case hex of the exact length.
- account, filename, user_agent: whitespace trimmed (and collapsed for user agents), otherwise
  as given: these are matched exactly.

Defanged input is accepted everywhere: ``hxxp://``, ``[.]``, ``(.)``, ``{.}``, ``[dot]``,
``(dot)``, ``[:]``, ``[@]``, ``(at)``, ``[at]``, ``[://]``.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote, urlsplit, urlunsplit

import idna
from django.conf import settings
from django.core.exceptions import ValidationError

from ..models import INDICATOR_VALUE_MAX, IndicatorType

T = IndicatorType

_REFANG = [
    (re.compile(r"\bhxxp(s?)(?=(?:\[:\]|:)|\[://\])", re.IGNORECASE), r"http\1"),
    (re.compile(r"\bfxp(?=(?:\[:\]|:))", re.IGNORECASE), "ftp"),
    (re.compile(r"\[://\]"), "://"),
    (re.compile(r"\[:\]"), ":"),
    (re.compile(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}", re.IGNORECASE), "."),
    (re.compile(r"\[@\]|\(@\)|\[at\]|\(at\)|\{at\}", re.IGNORECASE), "@"),
]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_HEX = {T.SHA256: 64, T.SHA1: 40, T.MD5: 32}
_HASH_NAMES = {T.SHA256: "A SHA-256", T.SHA1: "A SHA-1", T.MD5: "An MD5"}
_EMAIL_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}
_TYPES = frozenset(T.values)  # read once: TextChoices.values builds a list on every access
# Length limits that keep every value inside one PostgreSQL B-tree entry of the (type, value)
# index (~2,700 bytes), whatever the characters.
_TEXT_MAX = {T.ACCOUNT: 256, T.FILENAME: 255, T.USER_AGENT: 512}
# Host names no one outside resolves: a host with one of these suffixes is one of ours.
_LOCAL_SUFFIXES = (".local", ".internal", ".lan", ".localdomain", ".home.arpa", ".corp")


def _error(message: str) -> ValidationError:
    return ValidationError({"value": [message]})


def refang(text: str) -> str:
    """Undo the usual defanging (``hxxp://evil[.]com`` → ``http://evil.com``)."""
    for pattern, replacement in _REFANG:
        text = pattern.sub(replacement, text)
    return text


def _ip(raw: str) -> str:
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=False)
            if network.prefixlen == network.max_prefixlen:
                return str(network.network_address)
            return str(network)
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise _error(
            f"“{raw}” is not an IPv4 or IPv6 address or network (e.g. 203.0.113.7, 2001:db8::1, 10.0.0.0/8)."
        ) from None


# A name IDNA leaves as it is: labels of letters and digits with inner hyphens (and none with
# "--" in third and fourth place, which IDNA reserves: those take the idna path).
_PLAIN_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _host(raw: str, *, single_label: bool, what: str) -> str:
    text = raw.strip().rstrip(".")
    if not text:
        raise _error(f"Enter a {what}.") from None
    lowered = text.lower()
    if text.isascii() and _PLAIN_HOST.fullmatch(lowered) and not any(part[2:4] == "--" for part in lowered.split(".")):
        # Letters, digits and inner hyphens only: what IDNA would give back, lower-cased (the
        # idna package costs ~20 µs a name, most of an alert's observables' time).
        ascii_name = lowered
    else:
        try:
            ascii_name = idna.encode(text, uts46=True, std3_rules=False).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise _error(f"“{raw}” is not a valid {what}.") from None
        ascii_name = ascii_name.lower()
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _error(f"“{raw}” is not a valid {what}.") from None
    if not single_label and len(labels) < 2:
        raise _error(f"“{raw}” is not a domain: it needs at least two labels (e.g. example.com).") from None
    if labels[-1].isdigit():
        raise _error(f"“{raw}” looks like an IP address, not a {what}: choose the type ip.") from None
    return ascii_name


def _url_host(host: str, raw: str) -> str:
    if host.startswith("["):
        return f"[{_ip(host)}]"
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    try:
        return _host(host, single_label=True, what="host")
    except ValidationError:
        raise _error(f"“{raw}” has no valid host.") from None


def _url(raw: str) -> str:
    text = raw.strip()
    if " " in text:
        raise _error(f"“{raw}” is not a URL: it contains spaces.") from None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise _error(f"“{raw}” is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme) or not parts.netloc or not parts.hostname:
        raise _error(f"“{raw}” is not a URL: it needs a scheme and a host (e.g. https://example.com/path).") from None
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    host = _url_host(f"[{parts.hostname}]" if bracketed else parts.hostname, raw)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    path = parts.path or ("/" if scheme in ("http", "https") else "")
    safe = "/%:@!$&'()*+,;=-._~"
    path = quote(path, safe=safe)
    query = quote(parts.query, safe=safe + "?")
    value = urlunsplit((scheme, netloc, path, query, ""))
    if len(value) > INDICATOR_VALUE_MAX:
        raise _error(f"A URL may have at most {INDICATOR_VALUE_MAX} characters.") from None
    return value


def _email(raw: str) -> str:
    text = raw.strip().lower()
    if text.startswith("mailto:"):
        text = text[len("mailto:") :]
    local, at, domain = text.rpartition("@")
    if not at or not _EMAIL_LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise _error(f"“{raw}” is not an e-mail address.") from None
    try:
        return f"{local}@{_host(domain, single_label=False, what='domain')}"
    except ValidationError:
        raise _error(f"“{raw}” is not an e-mail address: the part after @ is not a domain.") from None


def _hash(kind: str, raw: str) -> str:
    text = raw.strip().lower()
    length = _HEX[kind]
    if not re.fullmatch(rf"[0-9a-f]{{{length}}}", text):
        raise _error(f"{_HASH_NAMES[kind]} is {length} hexadecimal characters; “{raw[:80]}” is not.") from None
    return text


def _text(kind: str, raw: str) -> str:
    text = " ".join(raw.split()) if kind == T.USER_AGENT else raw.strip()
    limit = _TEXT_MAX[kind]
    if len(text) > limit:
        raise _error(f"At most {limit} characters.") from None
    if kind == T.FILENAME and ("/" in text or "\\" in text):
        raise _error("A file name, without its folder (no / or \\).") from None
    return text


def normalize(kind: str, raw: str) -> str:
    """The canonical value of ``raw`` as an indicator of type ``kind`` (defanged input accepted);
    raises ``ValidationError({"value": [...]})``."""
    if not isinstance(raw, str) or not raw.strip():
        raise _error("Enter a value.") from None
    if kind not in _TYPES:
        raise ValidationError({"type": [f"“{kind}” is not a type of indicator."]})
    # A user agent's line breaks and tabs are whitespace, collapsed; anywhere else they are noise.
    checked = " ".join(raw.split()) if kind == T.USER_AGENT else raw.strip()
    if _CONTROL.search(checked):
        raise _error("The value contains control characters.") from None
    if kind in (T.ACCOUNT, T.FILENAME, T.USER_AGENT):
        return _text(kind, raw)
    text = refang(raw)
    if kind in _HEX:
        return _hash(kind, text)
    if len(text) > INDICATOR_VALUE_MAX:
        raise _error(f"At most {INDICATOR_VALUE_MAX} characters.") from None
    match kind:
        case T.IP:
            return _ip(text)
        case T.DOMAIN:
            return _host(text, single_label=False, what="domain")
        case T.HOSTNAME:
            return _host(text, single_label=True, what="host name")
        case T.URL:
            return _url(text)
        case T.EMAIL:
            return _email(text)
    raise AssertionError(kind)  # pragma: no cover - every type is handled above


def guess_types(raw: str) -> list[str]:
    """The types ``raw`` (possibly defanged) is valid as, most specific first: what the lookup
    endpoint searches when no type is given, and what the add form picks for "detect"."""
    text = refang(raw.strip())
    candidates: list[str] = []
    if re.fullmatch(r"[0-9a-fA-F]+", text) and len(text) in (32, 40, 64):
        return [str({32: T.MD5, 40: T.SHA1, 64: T.SHA256}[len(text)])]
    order = [T.IP, T.URL, T.EMAIL, T.DOMAIN, T.HOSTNAME]
    for kind in order:
        try:
            normalize(kind, text)
        except ValidationError:
            continue
        candidates.append(str(kind))
        if kind in (T.IP, T.URL, T.EMAIL):
            break
    if not candidates:
        if text.lower().startswith(("mozilla/", "curl/", "python-requests/", "wget/")):
            candidates = [str(T.USER_AGENT)]
        elif " " not in text:
            candidates = [str(T.ACCOUNT), str(T.FILENAME)]
    return candidates


def _domain_is_ours(domain: str) -> bool:
    if "." not in domain or domain.endswith(_LOCAL_SUFFIXES):
        return True  # single-label and local names resolve only inside a network
    return any(domain == ours or domain.endswith("." + ours) for ours in settings.OUR_DOMAINS)


def is_ours(kind: str, value: str) -> bool:
    """Whether a normalized value points at us rather than an attacker: private, reserved,
    loopback, link-local, multicast or unspecified addresses (and networks inside them), and
    our own domains (``OUR_DOMAINS``, subdomains included) in domains, host names, URLs and
    e-mail addresses."""
    match kind:
        case T.IP:
            network = ipaddress.ip_network(value, strict=False)
            address = network.network_address
            return bool(
                network.is_private
                or address.is_reserved
                or address.is_loopback
                or address.is_link_local
                or address.is_multicast
                or address.is_unspecified
                or (network.version == 4 and not network.is_global)
            )
        case T.DOMAIN | T.HOSTNAME:
            return _domain_is_ours(value)
        case T.EMAIL:
            return _domain_is_ours(value.rpartition("@")[2])
        case T.URL:
            host = (urlsplit(value).hostname or "").strip("[]")
            try:
                return is_ours(T.IP, host)
            except ValueError:
                return _domain_is_ours(host)
    return False
