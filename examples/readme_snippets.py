"""The driver snippets shown in docs/applications.md ("## Drivers") are the tested examples' text.

    python3 examples/readme_snippets.py docs/applications.md

For each driver, the one code block of its language in that section must equal the part of the
example file between its "snippet: begin" and "snippet: end" lines (dedented), and the section
may hold no block in another programming language (one without a tested example).
Prints one "ok - ..." or "not ok - ..." line per snippet; exits 1 if any differs.
"""

import pathlib
import re
import sys
import textwrap

SECTION = "## Drivers"

EXAMPLES = {
    "python": "drivers/python/todos.py",
    "js": "drivers/node/todos.js",
    "rust": "drivers/rust/src/main.rs",
}


def main():
    if len(sys.argv) != 2:
        print("usage: readme_snippets.py docs/applications.md", file=sys.stderr)
        return 2
    path = pathlib.Path(sys.argv[1])
    doc = path.read_text(encoding="utf-8")
    here = pathlib.Path(__file__).resolve().parent
    if f"\n{SECTION}\n" not in doc:
        print(f'not ok - {path.name} has no "{SECTION}" section')
        return 1
    section = doc.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", section, re.S | re.M)
    failed = 0
    for lang, example in EXAMPLES.items():
        text = (here / example).read_text(encoding="utf-8")
        m = re.search(r"\n[^\n]*snippet: begin\n(.*?\n)[^\n]*snippet: end", text, re.S)
        snippets = [b for (l, b) in blocks if l == lang]
        name = f"{path.name}'s {lang} snippet is examples/{example}"
        if m is None:
            failed += 1
            print(f"not ok - {name}: no snippet: begin/end lines in the file")
        elif len(snippets) != 1:
            failed += 1
            print(f"not ok - {name}: {path.name} has {len(snippets)} {lang} blocks in that section, not 1")
        elif snippets[0] != textwrap.dedent(m.group(1)):
            failed += 1
            print(f"not ok - {name}: the texts differ")
            want = textwrap.dedent(m.group(1)).splitlines()
            for i, (a, b) in enumerate(zip(want + [""] * len(snippets[0].splitlines()), snippets[0].splitlines())):
                if a != b:
                    print(f"    line {i + 1}: example {a!r}, {path.name} {b!r}")
                    break
        else:
            print(f"ok - {name}")
    untested = sorted({l for (l, _) in blocks} - set(EXAMPLES) - {"ini", "sql", "sh"})
    if untested:
        failed += 1
        print(f"not ok - {path.name}'s snippets in languages without an example: {', '.join(untested)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
