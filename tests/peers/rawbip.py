"""Send exact datagrams to a BACnet/IP address and print what comes back, as JSON.

    rawbip.py --bind 10.71.1.2:47999 --to 10.71.1.1:47808 --hex 810a0010... [--hex ...] [--wait 3]
    rawbip.py ... --rate 2000 --seconds 3   # the datagrams over and over, 2000 a second (a storm)

Prints [{"from": "ip:port", "hex": "..."}] for every datagram received during --wait seconds
after the last send.
"""

from __future__ import annotations

import argparse
import json
import socket
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", required=True)
    parser.add_argument("--to", required=True)
    parser.add_argument("--hex", action="append", default=[])
    parser.add_argument("--wait", type=float, default=3.0)
    parser.add_argument("--until-count", type=int, default=0, help="stop early after this many datagrams")
    parser.add_argument("--rate", type=float, default=0.0, help="send the datagrams in turn, this many a second")
    parser.add_argument("--seconds", type=float, default=0.0, help="for this long (with --rate)")
    args = parser.parse_args()
    host, port = args.bind.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.bind((host, int(port)))
    to_host, to_port = args.to.rsplit(":", 1)
    datagrams = [bytes.fromhex(payload) for payload in args.hex]
    target = (to_host, int(to_port))
    if args.rate:
        start, sent = time.monotonic(), 0
        while (elapsed := time.monotonic() - start) < args.seconds:
            due = int(elapsed * args.rate)
            while sent < due:
                sock.sendto(datagrams[sent % len(datagrams)], target)
                sent += 1
            time.sleep(0.001)
    else:
        for datagram in datagrams:
            sock.sendto(datagram, target)
    received = []
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data, source = sock.recvfrom(65535)
        except TimeoutError:
            break
        received.append({"from": f"{source[0]}:{source[1]}", "hex": data.hex()})
        if args.until_count and len(received) >= args.until_count:
            break
    print(json.dumps(received))


if __name__ == "__main__":
    main()
