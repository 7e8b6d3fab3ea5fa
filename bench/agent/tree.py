"""A stand-in model server for the agent benchmark: a frontend process that starts N worker processes.

Usage: python3 tree.py --workers 49 --pid-file /tmp/x/model_server.pid

Writes its own pid to the pid file (as `multi-model-server --start` writes $TMPDIR/.model_server.pid), prints
`ready` once every worker runs, and on SIGTERM stops its workers and exits.
"""
import argparse
import os
import signal
import subprocess
import sys
import time

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--workers", type=int, default=49)
parser.add_argument("--pid-file", required=True)
args = parser.parse_args()

worker_script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_service_worker.py")
workers = [subprocess.Popen([sys.executable, worker_script]) for _ in range(args.workers)]


def stop(*_):
    for w in workers:
        w.terminate()
    for w in workers:
        w.wait()
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
tmp = args.pid_file + ".tmp"
with open(tmp, "w") as f:
    f.write(f"{os.getpid()}\n")
os.replace(tmp, args.pid_file)
print("ready", flush=True)
while True:
    time.sleep(3600)
