#!/usr/bin/python3
# Executes one notebook through a real Jupyter client (Debian's python3-nbclient) and the
# kernel named by --kernel, cell by cell, stopping at the first failing cell. Always writes
# the executed notebook (with the outputs produced so far) to --output, and prints ONE line
# of JSON on stdout for `dedup-lab nb run`:
#   {"ok": bool, "cells": [{"index", "id", "seconds"}], "failed": {index, id, kind, ename,
#    evalue, stderr, source} | null, "seconds": total}
# tslab reports type errors only on the cell's stderr stream (the error reply is an empty
# "<Error>: "), so the stderr text of the failing cell is part of the result.
import argparse
import asyncio
import json
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError


def text_of(value):
    return "".join(value) if isinstance(value, list) else (value or "")


def failure(cell, index, kind, message=""):
    ename, evalue, stderr = "", "", []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            ename, evalue = out.get("ename", ""), out.get("evalue", "")
        elif out.get("output_type") == "stream" and out.get("name") == "stderr":
            stderr.append(text_of(out.get("text")))
    return {
        "index": index,
        "id": cell.get("id", ""),
        "kind": kind,
        "ename": ename,
        "evalue": evalue or message,
        "stderr": "".join(stderr),
        "source": text_of(cell.get("source")),
    }


async def execute(args):
    nb = nbformat.read(args.input, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=args.kernel,
        timeout=args.timeout,
        startup_timeout=args.startup_timeout,
        allow_errors=False,
        interrupt_on_timeout=False,
        resources={"metadata": {"path": args.cwd}},
    )
    result = {"ok": True, "cells": [], "failed": None}
    started = time.time()
    executed = 0
    try:
        async with client.async_setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                t0 = time.time()
                try:
                    await client.async_execute_cell(cell, index)
                except CellTimeoutError:
                    result["failed"] = failure(cell, index, "timeout", f"cell did not finish within {args.timeout} s")
                except DeadKernelError as e:
                    result["failed"] = failure(cell, index, "dead-kernel", f"the kernel died: {e}")
                except CellExecutionError as e:
                    result["failed"] = failure(cell, index, "error", str(e).strip().splitlines()[-1] if str(e).strip() else "")
                executed += 1
                # tslab sends no execution_count, so an executed notebook would show [ ]: number the
                # cells in the order they ran, like a front end does for a fresh kernel.
                if cell.get("execution_count") is None:
                    cell["execution_count"] = executed
                    for out in cell.get("outputs", []):
                        if out.get("output_type") == "execute_result" and out.get("execution_count") is None:
                            out["execution_count"] = executed
                result["cells"].append({"index": index, "id": cell.get("id", ""), "seconds": round(time.time() - t0, 3)})
                if result["failed"]:
                    result["ok"] = False
                    break
    except RuntimeError as e:
        # Kernel did not start (e.g. "Kernel died before replying to kernel_info").
        result["ok"] = False
        result["failed"] = {"index": -1, "id": "", "kind": "kernel-start", "ename": "", "evalue": str(e), "stderr": "", "source": ""}
    result["seconds"] = round(time.time() - started, 3)
    nbformat.write(nb, args.output)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--kernel", default="dedup-lab")
    ap.add_argument("--cwd", required=True)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--startup-timeout", type=int, default=180)
    args = ap.parse_args()
    result = asyncio.run(execute(args))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
