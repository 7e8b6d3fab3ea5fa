"""suite's hook for Locust, loaded beside the user's locustfile (`-f suite_hook.py,<script>`).

It takes the process's stdout for itself: the pipe suite reads is duplicated for its own lines,
and file descriptor 1 then points at stderr, so whatever Locust or the script prints lands in
suite's `locust.err`, never among the results. One line per request (Locust's `request` event),
written and flushed as it fires:

    suite:R <start µs> <elapsed µs> <bytes> <status> <method> <name> <error or empty>

tab-separated (tabs and line breaks in a field become spaces), the user count every second
(`suite:U <users>`), and one line per exception a task raised (`suite:X <text>`).

With SUITE_LOCUST_ITERATIONS=N each user runs N tasks, then stops (StopUser); once every user
has stopped, Locust quits as at the end of its run time.
"""

import os
import sys
import time

import gevent
from locust import events
from locust.exception import StopUser
from locust.user.task import DefaultTaskSet, TaskSet

_OUT = os.dup(1)
os.dup2(2, 1)
_LIMIT = 2000


def _write(line):
    data = (line + "\n").encode("utf-8", "replace")
    while data:
        data = data[os.write(_OUT, data):]


def _field(value):
    text = "" if value is None else str(value)
    if len(text) > _LIMIT:
        text = text[:_LIMIT]
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


@events.request.add_listener
def _on_request(request_type=None, name=None, response_time=None, response_length=None, response=None,
                exception=None, start_time=None, **_kwargs):
    elapsed_us = int(max(response_time or 0, 0) * 1000)
    if start_time is None:
        start_us = int(time.time() * 1_000_000) - elapsed_us
    else:
        start_us = int(start_time * 1_000_000)
    status = getattr(response, "status_code", None)
    try:
        status = int(status or 0)
    except (TypeError, ValueError):
        status = 0
    error = "" if exception is None else (_field(exception) or type(exception).__name__)
    _write("suite:R\t%d\t%d\t%d\t%d\t%s\t%s\t%s" % (
        start_us, elapsed_us, int(response_length or 0), status, _field(request_type), _field(name), error))


@events.user_error.add_listener
def _on_user_error(user_instance=None, exception=None, tb=None, **_kwargs):
    _write("suite:X\t%s: %s" % (type(exception).__name__, _field(exception)))


_ITERATIONS = int(os.environ.get("SUITE_LOCUST_ITERATIONS") or 0)


def _limited(method):
    def execute_task(self, task):
        user = self.user
        done = getattr(user, "_suite_iterations", 0)
        if done >= _ITERATIONS:
            raise StopUser()
        user._suite_iterations = done + 1
        method(self, task)
        if done + 1 >= _ITERATIONS:
            # Stopped at once, not after one more wait.
            raise StopUser()

    return execute_task


if _ITERATIONS > 0:
    TaskSet.execute_task = _limited(TaskSet.execute_task)
    DefaultTaskSet.execute_task = _limited(DefaultTaskSet.execute_task)


def _watch(environment):
    runner = environment.runner
    spawned = False
    said = (None, 0.0)
    while True:
        users = runner.user_count
        now = time.monotonic()
        if users != said[0] or now - said[1] >= 1:
            _write("suite:U\t%d" % users)
            said = (users, now)
        spawned = spawned or runner.state == "running"
        if _ITERATIONS > 0 and spawned and users == 0:
            runner.quit()
            return
        gevent.sleep(1 if _ITERATIONS <= 0 else 0.1)


@events.test_start.add_listener
def _on_test_start(environment=None, **_kwargs):
    if environment is not None and environment.runner is not None:
        gevent.spawn(_watch, environment)



_ENV = []


@events.init.add_listener
def _on_init(environment=None, **_kwargs):
    _ENV.append(environment)


@events.quit.add_listener
def _on_quit(**_kwargs):
    # Locust rewrites its `--csv` files once a second and not again at exit: one more rewrite
    # once the users have stopped, so that its `_stats.csv` counts every request, as suite does.
    options = getattr(_ENV[0], "parsed_options", None) if _ENV else None
    if getattr(options, "csv_prefix", None):
        from locust import stats

        gevent.sleep(stats.CSV_STATS_INTERVAL_SEC + 0.2)
