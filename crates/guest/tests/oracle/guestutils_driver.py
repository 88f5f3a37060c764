"""Run MaestroNG's guest functions (maestro.guestutils) for the differential
test of maestro-guest.

Reads a JSON list of cases on stdin:

    [{"env": {"NAME": "value", ...},
      "calls": [["get_node_list", ["zk"], {"ports": ["peer"]}], ...]}, ...]

For each case the process environment is replaced by "env", then each call
is made in order (so an update_os_env call affects the later ones). Writes a
JSON list (one entry per case) of lists (one entry per call) to stdout:

    {"ok": <the result>}  or  {"error": {"type": "<exception class>",
                                          "message": "<str(exception)>"}}
"""

import json
import os
import sys

from maestro import guestutils


def call(name, args, kwargs):
    try:
        return {"ok": getattr(guestutils, name)(*args, **kwargs)}
    except Exception as e:  # every failure is a result to compare
        return {"error": {"type": type(e).__name__, "message": str(e)}}


def main():
    cases = json.load(sys.stdin)
    results = []
    for case in cases:
        os.environ.clear()
        os.environ.update(case["env"])
        results.append([call(n, a, k) for n, a, k in case["calls"]])
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
