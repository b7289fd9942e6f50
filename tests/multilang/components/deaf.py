"""Completes the handshake, then never answers anything (a hung child)."""
import json
import os
import sys
import time

lines = []
for line in sys.stdin:
    if line.strip() == "end":
        break
    lines.append(line)
setup = json.loads("".join(lines))
open(os.path.join(setup["pidDir"], str(os.getpid())), "w").close()
sys.stdout.write(json.dumps({"pid": os.getpid()}) + "\nend\n")
sys.stdout.flush()
time.sleep(3600)
