#!/usr/bin/python3
# Drives the real dedup-lab (tslab) kernel with jupyter_client: starts a runMatrix cell,
# interrupts the kernel once a few cells are done, and reports (one JSON line) what the
# bundle looked like when the cell ended and a few seconds later.
import json
import os
import sys
import time

from jupyter_client.manager import KernelManager

root, out, work = sys.argv[1:4]
km = KernelManager(kernel_name="dedup-lab")
km.start_kernel(cwd=root, env={**os.environ, "TMPDIR": work})
kc = km.client()
kc.start_channels()
kc.wait_for_ready(timeout=180)


def drain(msg_id, timeout):
    """iopub output of one request until the kernel is idle again."""
    texts, errors = [], []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except Exception:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        t, c = msg["msg_type"], msg["content"]
        if t == "stream":
            texts.append(c["text"])
        elif t == "error":
            errors.append(f'{c["ename"]}: {c["evalue"]}')
        elif t == "status" and c["execution_state"] == "idle":
            break
    return "".join(texts), errors


def reply_for(msg_id, timeout):
    deadline = time.time() + timeout
    while True:
        msg = kc.get_shell_msg(timeout=max(1, deadline - time.time()))
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_reply":
            return msg


def cells():
    d = os.path.join(out, "cells")
    return {n: os.stat(os.path.join(d, n)).st_mtime for n in sorted(os.listdir(d))} if os.path.isdir(d) else {}


def done_count():
    j = os.path.join(out, "journal.jsonl")
    return sum('"done"' in l for l in open(j)) if os.path.exists(j) else 0


code = f"""import * as lab from "./dist/index";
const cfg = await lab.loadConfig(undefined, {{
  systems: ["sqlite", "directory"], payloads: ["random_binary", "text_document", "uuid_keys"], grades: ["U0", "U50", "U90"],
  units: 60, repeats: 1,
}});
const run = await lab.runMatrix(cfg, {{ dir: {json.dumps(out)} }});
console.log("run returned", run.done);"""
msg_id = kc.execute(code)
t0 = time.time()
while done_count() < 3 and time.time() - t0 < 240:
    time.sleep(0.1)
done_at_interrupt = done_count()
t_int = time.time()
km.interrupt_kernel()
reply = reply_for(msg_id, 300)
t_reply = time.time()
text, errors = drain(msg_id, 30)
at_reply = cells()
time.sleep(4)
later = cells()

# After an await: tslab detaches SIGINT listeners while a cell's synchronous part runs.
probe_id = kc.execute('await new Promise((r) => setTimeout(r, 10));\nconsole.log("alive", 1 + 1, process.listeners("SIGINT").length);')
reply_for(probe_id, 60)
probe, probe_errors = drain(probe_id, 30)

kc.stop_channels()
km.shutdown_kernel(now=False)
print(json.dumps({
    "done_at_interrupt": done_at_interrupt,
    "reply_status": reply["content"]["status"],
    "seconds_to_reply": round(t_reply - t_int, 2),
    "text": text,
    "errors": errors,
    "cells_at_reply": at_reply,
    "cells_later": later,
    "written_after_reply": [n for n, m in later.items() if m > t_reply],
    "t_reply": t_reply,
    "probe": probe,
    "probe_errors": probe_errors,
    "work_left": sorted(os.listdir(work)),
}))
