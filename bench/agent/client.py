"""The benchmark's ServerAgent client: the Taurus handshake against each agent, then read value lines.

Usage: python3 client.py --duration 70 --metrics "a b c" name=host:port [name=host:port ...]

Sends `test`, `interval:1`, `metrics:<tab-joined>` to each agent (as Taurus's ServerAgentClient does), reads for
--duration seconds, then prints per agent how many lines arrived and a few of the last values, so the table shows
both agents did the same work and agree on what they saw.
"""
import argparse
import select
import socket
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--duration", type=float, required=True)
parser.add_argument("--metrics", required=True, help="space-separated metric names")
parser.add_argument("agents", nargs="+")
args = parser.parse_args()
metrics = args.metrics.split()
socks = {}
for spec in args.agents:
    name, addr = spec.split("=", 1)
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)))
    s.sendall(b"test\n")
    assert s.recv(4) == b"Yep\n", name
    s.sendall(b"interval:1\n")
    s.sendall(("metrics:" + "\t".join(metrics) + "\n").encode())
    socks[s] = {"name": name, "buf": b"", "lines": 0, "last": None}
end = time.monotonic() + args.duration
while time.monotonic() < end:
    readable, _, _ = select.select(list(socks), [], [], max(0.0, end - time.monotonic()))
    for s in readable:
        st = socks[s]
        data = s.recv(65536)
        if not data:
            raise SystemExit(f"{st['name']} closed the connection")
        st["buf"] += data
        while b"\n" in st["buf"]:
            line, st["buf"] = st["buf"].split(b"\n", 1)
            st["lines"] += 1
            st["last"] = line.decode()
show = ["total_processes", "total_workers", "sum_workers_memory_rss", "sum_workers_threads", "sum_all_file_descriptors"]
for s, st in socks.items():
    s.sendall(b"exit\n")
    values = st["last"].split("\t") if st["last"] else []
    picked = ", ".join(f"{m}={values[metrics.index(m)]}" for m in show if m in metrics and values)
    print(f"{st['name']}: {st['lines']} lines of {len(metrics)} values; last: {picked}")
