#!/usr/bin/env python3
"""A tiny DNS server for pg_idp's integration tests (UDP, on a loopback address), standing in for
a resolver that is slow or that knows no such host.

  dns_fixture.py ADDRESS DELAY_MS LOG

Answers A and AAAA questions by the name's last two labels:
  *.late.test     A 127.0.0.1, after DELAY_MS (a slow resolver)
  *.nx-late.test  NXDOMAIN, after DELAY_MS (a slow resolver, and a host that does not resolve)
  *.fast.test     A 127.0.0.1, at once
  anything else   NXDOMAIN, at once (a host that does not resolve)
AAAA questions get an empty answer (NOERROR) where A gets an address. Every question is
written to LOG as one line: "RECEIVED ANSWERED NAME TYPE" (Unix times, seconds), so a test can
tell which of its signals arrived while a lookup was under way.
"""
import socket
import struct
import sys
import threading
import time

ADDRESS = sys.argv[1]
DELAY = int(sys.argv[2]) / 1000.0
LOG = open(sys.argv[3], "a", buffering=1)
LOCK = threading.Lock()


def question(packet):
    """The first question's name (lowercase), type, and where the question section ends."""
    labels, i = [], 12
    while True:
        n = packet[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(packet[i + 1:i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    qtype, _qclass = struct.unpack("!HH", packet[i:i + 4])
    return ".".join(labels), qtype, i + 4


def answer(packet, name, qtype, end):
    ident, flags = struct.unpack("!HH", packet[:4])
    rd = flags & 0x0100
    addressed = name.endswith(".late.test") or name.endswith(".fast.test")
    rcode = 0 if addressed else 3
    records = b""
    if addressed and qtype == 1:
        # a pointer to the question's name, type A, class IN, TTL 0, 4 bytes of address
        records = struct.pack("!HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton("127.0.0.1")
    header = struct.pack("!HHHHHH", ident, 0x8000 | 0x0400 | rd | 0x0080 | rcode, 1, 1 if records else 0, 0, 0)
    return header + packet[12:end] + records


def respond(sock, packet, peer, received):
    try:
        name, qtype, end = question(packet)
    except (IndexError, ValueError, struct.error):
        return
    if name.endswith(".late.test") or name.endswith(".nx-late.test"):
        time.sleep(DELAY)
    sock.sendto(answer(packet, name, qtype, end), peer)
    with LOCK:
        LOG.write(f"{received:.3f} {time.time():.3f} {name} {qtype}\n")


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ADDRESS, 53))
    print(f"dns fixture on {ADDRESS}:53, delay {DELAY}s", flush=True)
    while True:
        packet, peer = sock.recvfrom(4096)
        threading.Thread(target=respond, args=(sock, packet, peer, time.time()), daemon=True).start()


main()
