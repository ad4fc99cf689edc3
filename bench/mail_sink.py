"""The SMTP sink of bench/mail.py, in a process of its own: it takes every mail and writes one
line per mail, "recipient<TAB>subject". A minimal asyncio server, lighter than aiosmtpd, so
that the sink is not what the bench measures; standard library only, so it starts at once.

    python -m bench.mail_sink PORT FILE
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


def run_sink(port: int, path: Path) -> None:
    """A minimal SMTP server (asyncio) that takes every mail and writes one line per mail,
    "recipient<TAB>subject": lighter than aiosmtpd, so the sink is not what is measured."""
    out = path.open("a", buffering=1)

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await converse(reader, writer)
        except ConnectionError:  # a sender killed with -9 mid-mail: its mail never arrived
            pass
        finally:
            writer.close()

    async def converse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        rcpts: list[str] = []
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"MAIL":
                rcpts = []
                writer.write(b"250 OK\r\n")
            elif verb == b"RCPT":
                rcpts.append(line.split(b":", 1)[1].strip().strip(b"<>").decode())
                writer.write(b"250 OK\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                subject = ""
                while (data := await reader.readline()) != b".\r\n":
                    if not data:
                        return  # the sender went away mid-mail: nothing was taken
                    if not subject and data[:9].lower() == b"subject: ":
                        subject = data[9:].decode(errors="replace").strip()
                for rcpt in rcpts:
                    out.write(f"{rcpt}\t{subject}\n")
                writer.write(b"250 accepted\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:  # RSET, NOOP
                writer.write(b"250 OK\r\n")
            await writer.drain()

    async def serve() -> None:
        server = await asyncio.start_server(session, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    run_sink(int(sys.argv[1]), Path(sys.argv[2]))
