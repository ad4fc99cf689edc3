"""A small authoritative DNS server on 127.0.0.1 (UDP) for MX look-ups in tests."""

from __future__ import annotations

import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsServer:
    """Answers MX queries from `zones` ({"acme.example": ["10 mx1.acme.example"]}); a domain
    in `slow` is never answered (a timeout); any other name is NXDOMAIN."""

    def __init__(self, zones: dict[str, list[str]], slow: set[str] | None = None) -> None:
        self.zones = zones
        self.slow = slow or set()
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self.socket.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            if name in self.slow:
                continue
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            if name not in self.zones:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.MX and self.zones[name]:
                response.answer.append(
                    dns.rrset.from_text_list(
                        name + ".", 300, "IN", "MX", [r.rstrip(".") + "." for r in self.zones[name]]
                    )
                )
            self.socket.sendto(response.to_wire(), peer)

    def stop(self) -> None:
        self.socket.close()
