"""DNS look-ups for checking e-mail domains: a domain's mail servers (MX), through dnspython.

LEADS_DNS_NAMESERVERS points the resolver at given servers ("127.0.0.1:5353"); unset, the
system's. NXDOMAIN and a domain without MX are answers (no mail servers); a timeout or a
failing server is not, and says so (`transient`), so the address is checked again later.
"""

from __future__ import annotations

import dns.exception
import dns.resolver

from config import Settings


def resolver(settings: Settings) -> dns.resolver.Resolver:
    if not settings.leads_dns_nameservers:
        made = dns.resolver.Resolver()
    else:
        made = dns.resolver.Resolver(configure=False)
        made.nameservers = []
        for server in settings.leads_dns_nameservers:
            host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
            made.nameservers.append(host)
            if port:
                made.port = int(port)
    made.lifetime = settings.leads_dns_timeout_s
    return made


def mail_servers(found: dns.resolver.Resolver, domain: str) -> tuple[list[str], str | None, bool]:
    """(hosts best first, the error if none, whether the error may pass)."""
    try:
        answer = found.resolve(domain, "MX")
    except dns.resolver.NXDOMAIN:
        return [], "no such domain", False
    except dns.resolver.NoAnswer:
        return [], "no MX record", False
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        return [], type(exc).__name__, True
    records = sorted(answer, key=lambda r: r.preference)  # type: ignore[attr-defined]
    hosts = [str(r.exchange).rstrip(".") for r in records]  # type: ignore[attr-defined]
    # A null MX ("0 .", RFC 7505) says the domain takes no mail.
    if hosts == [""]:
        return [], "null MX: the domain takes no mail", False
    return hosts, None, False
