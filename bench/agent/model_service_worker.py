"""A stand-in MMS worker for the agent benchmark and the Taurus check: it only sleeps.

MMS starts workers as `python <dir>/mms/model_service_worker.py ...`; the MMS agent (and `--worker-match`) picks
workers by that script name, so this file keeps it.
"""
import time

while True:
    time.sleep(3600)
