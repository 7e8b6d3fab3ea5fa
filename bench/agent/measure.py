"""Measures agents' CPU and memory from /proc: utime+stime deltas over --duration seconds as % of one core,
and VmRSS / VmHWM at the end. Prints a Markdown table.

Usage: python3 measure.py --duration 60 name=pid [name=pid ...]
"""
import argparse
import os
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--duration", type=float, required=True)
parser.add_argument("agents", nargs="+")
args = parser.parse_args()
hz = os.sysconf("SC_CLK_TCK")
agents = [(spec.split("=")[0], int(spec.split("=")[1])) for spec in args.agents]


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


start = {pid: ticks(pid) for _, pid in agents}
t0 = time.monotonic()
time.sleep(args.duration)
elapsed = time.monotonic() - t0
print(f"| agent | CPU (% of one core, {elapsed:.0f} s) | CPU seconds | VmRSS (MB) | VmHWM (MB) |")
print("|---|---:|---:|---:|---:|")
for name, pid in agents:
    cpu_s = (ticks(pid) - start[pid]) / hz
    rss, hwm = status_kb(pid, "VmRSS") / 1024, status_kb(pid, "VmHWM") / 1024
    print(f"| {name} | {cpu_s / elapsed * 100:.3f} | {cpu_s:.2f} | {rss:.1f} | {hwm:.1f} |")
