"""An MMS-style monitoring agent in Python + psutil: the baseline `bench.sh` measures our agent against.

It does the per-poll work of MMS `tests/performance/agents` (`metrics/__init__.py` + `metrics_monitoring_server.py`,
see shared/reference/mms-torchserve.md sections 1.4-1.5): read the frontend pid from the pid file, walk
`Process(pid).children(recursive=True)`, accumulate the children in a set (so orphans stay), keep those whose
`cmdline[1]` contains `model_service_worker.py`, call `as_dict()` (every attribute) on the frontend and each worker,
and compute every metric of the grammar, then send the requested ones as `v1\tv2\t...\n`.

Deliberate differences from MMS, all in the baseline's favour or needed for a fair run:
- commands are framed by lines (MMS dispatched on whole recv() chunks and broke on `interval:1\nmetrics:...\n`);
- the loop blocks in select() until a client is due, where MMS busy-polled select() with a zero timeout, which
  alone burns a core (`--busy-poll` restores that);
- `total_workers = len(workers)` (TorchServe's fix of MMS's `len - 1`), and `zombies` is counted as TorchServe did.

Usage: python psutil_agent.py --pid-file FILE [--port 0]   (prints `psutil-agent listening on 127.0.0.1:PORT`)
"""
import argparse
import select
import socket
import statistics
import time

import psutil

PROCESS_METRICS = {
    "cpu_percent": lambda p: p.get("cpu_percent", 0),
    "memory_percent": lambda p: p.get("memory_percent", 0),
    "cpu_user_time": lambda p: getattr(p.get("cpu_times", {}), "user", 0),
    "cpu_system_time": lambda p: getattr(p.get("cpu_times", {}), "system", 0),
    "cpu_iowait_time": lambda p: getattr(p.get("cpu_times", {}), "iowait", 0),
    "memory_rss": lambda p: getattr(p.get("memory_info", {}), "rss", 0),
    "memory_vms": lambda p: getattr(p.get("memory_info", {}), "vms", 0),
    "io_read_count": lambda p: getattr(p.get("io_counters", {}), "read_count", 0),
    "io_write_count": lambda p: getattr(p.get("io_counters", {}), "write_count", 0),
    "io_read_bytes": lambda p: getattr(p.get("io_counters", {}), "read_bytes", 0),
    "io_write_bytes": lambda p: getattr(p.get("io_counters", {}), "write_bytes", 0),
    "file_descriptors": lambda p: p.get("num_fds", 0),
    "threads": lambda p: p.get("num_threads", 0),
}

children = set()
zombie_children = set()
server = {"proc": None}


def frontend(pid_file):
    proc = server["proc"]
    if proc is not None and proc.is_running():
        return proc
    try:
        with open(pid_file) as f:
            server["proc"] = psutil.Process(int(f.read().split()[0]))
    except (OSError, ValueError, IndexError, psutil.Error):
        server["proc"] = None
    return server["proc"]


def get_metrics(pid_file):
    result = {}
    proc = frontend(pid_file)
    server_stats = None
    if proc is not None:
        try:
            children.update(proc.children(recursive=True))
            server_stats = proc.as_dict()
        except psutil.Error:
            server["proc"] = None
    workers = []
    for child in list(children):
        try:
            if psutil.pid_exists(child.pid):
                cmdline = child.cmdline()
                if len(cmdline) >= 2 and "model_service_worker.py" in cmdline[1]:
                    workers.append(child.as_dict())
                    continue
        except psutil.ZombieProcess:
            zombie_children.add(child)
        except psutil.Error:
            pass
        children.discard(child)

    def update(name, stats, frontend_only=False, scope=None):
        stats = [s for s in stats if isinstance(s, (int, float))] or [0]
        if frontend_only:
            result[name] = stats[0]
            return
        result[f"sum_{scope}_{name}"] = sum(stats)
        result[f"avg_{scope}_{name}"] = statistics.mean(stats)
        result[f"min_{scope}_{name}"] = min(stats)
        result[f"max_{scope}_{name}"] = max(stats)

    for name, extract in PROCESS_METRICS.items():
        front = [extract(server_stats)] if server_stats else []
        update(f"frontend_{name}", front, frontend_only=True)
        update(name, [extract(w) for w in workers], scope="workers")
        update(name, front + [extract(w) for w in workers], scope="all")

    result["system_disk_used"] = psutil.disk_usage("/").used
    result["system_memory_percent"] = psutil.virtual_memory().percent
    io = psutil.disk_io_counters()
    for field in ("read_count", "write_count", "read_bytes", "write_bytes"):
        result[f"system_{field}"] = getattr(io, field, 0) if io else 0
    result["total_processes"] = len(workers) + 1 if server_stats else 0
    result["total_workers"] = len(workers)
    result["orphans"] = sum(1 for w in workers if w.get("ppid") == 1)
    result["zombies"] = len(zombie_children)
    return result


class Client:
    def __init__(self, sock):
        self.sock, self.buf, self.interval, self.metrics, self.due = sock, b"", 1, None, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pid-file", required=True)
    parser.add_argument("--port", type=int, default=9010)
    parser.add_argument("--busy-poll", action="store_true", help="select() with a zero timeout, as MMS did")
    args = parser.parse_args()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(10)
    print(f"psutil-agent listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    clients = {}
    while True:
        now = time.monotonic()
        dues = [c.due for c in clients.values() if c.due is not None]
        timeout = 0 if args.busy_poll else (max(0.0, min(dues) - now) if dues else None)
        readable, _, _ = select.select([listener] + list(clients), [], [], timeout)
        for sock in readable:
            if sock is listener:
                conn, _ = listener.accept()
                clients[conn] = Client(conn)
                continue
            client = clients[sock]
            data = sock.recv(4096)
            if not data:
                del clients[sock]
                sock.close()
                continue
            client.buf += data
            while b"\n" in client.buf:
                line, client.buf = client.buf.split(b"\n", 1)
                cmd = line.decode("latin-1").strip()
                if cmd == "test":
                    sock.sendall(b"Yep\n")
                elif cmd.startswith("interval:"):
                    client.interval = max(1, int(float(cmd.split(":", 1)[1])))
                elif cmd.startswith("metrics:"):
                    client.metrics = [m for m in cmd.split(":", 1)[1].split("\t") if m]
                    client.due = time.monotonic() + client.interval
                elif cmd == "exit":
                    del clients[sock]
                    sock.close()
                    break
        now = time.monotonic()
        due = [c for c in clients.values() if c.due is not None and c.due <= now]
        if due:
            metrics = get_metrics(args.pid_file)
            for c in due:
                line = "".join(f"{metrics.get(m, 0)}\t" for m in c.metrics) + "\n"
                try:
                    c.sock.sendall(line.encode("latin-1"))
                except OSError:
                    clients.pop(c.sock, None)
                c.due += c.interval


if __name__ == "__main__":
    main()
