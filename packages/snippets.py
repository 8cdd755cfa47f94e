"""The README's code snippets that CI runs: each block after a `<!-- snippet: PATH -->` line
must be PATH's text exactly (PATH relative to the repository root), so the README shows what
the channel tests execute. Usage: python3 packages/snippets.py README.md [more.md …]"""

import re
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
marker = re.compile(r"^<!-- snippet: (\S+) -->$")
checked, failed = 0, []
for doc in sys.argv[1:] or ["README.md"]:
    lines = (root / doc).read_text().splitlines()
    for i, line in enumerate(lines):
        found = marker.match(line)
        if not found:
            continue
        path = found.group(1)
        checked += 1
        fence = lines[i + 1] if i + 1 < len(lines) else ""
        if not fence.startswith("```"):
            failed.append(f"{doc}:{i + 1}: no code block after the snippet marker for {path}")
            continue
        end = next((j for j in range(i + 2, len(lines)) if lines[j] == "```"), None)
        if end is None:
            failed.append(f"{doc}:{i + 2}: the code block for {path} is not closed")
            continue
        shown = "\n".join(lines[i + 2 : end]).strip("\n")
        source = root / path
        if not source.is_file():
            failed.append(f"{doc}:{i + 1}: {path} does not exist")
            continue
        if shown != source.read_text().strip("\n"):
            failed.append(f"{doc}:{i + 1}: the block differs from {path}; paste the file again")

for problem in failed:
    print(problem, file=sys.stderr)
print(f"snippets: {checked - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
