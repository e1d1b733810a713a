"""README's "From your application" snippets are the tested examples' text.

    python3 examples/readme_snippets.py README.md

For each driver, the one code block of its language in that section of README must equal the
part of the example file between its "README: begin" and "README: end" lines (dedented).
Prints one "ok - ..." or "not ok - ..." line per snippet; exits 1 if any differs.
"""

import pathlib
import re
import sys
import textwrap

EXAMPLES = {
    "python": "drivers/python/todos.py",
    "js": "drivers/node/todos.js",
    "rust": "drivers/rust/src/main.rs",
}


def main():
    readme = pathlib.Path(sys.argv[1]).read_text(encoding="utf-8")
    here = pathlib.Path(__file__).resolve().parent
    if "\n## From your application\n" not in readme:
        print('not ok - README has no "From your application" section')
        return 1
    section = readme.split("\n## From your application\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", section, re.S | re.M)
    failed = 0
    for lang, path in EXAMPLES.items():
        text = (here / path).read_text(encoding="utf-8")
        m = re.search(r"\n[^\n]*README: begin\n(.*?\n)[^\n]*README: end", text, re.S)
        snippets = [b for (l, b) in blocks if l == lang]
        name = f"README's {lang} snippet is examples/{path}"
        if m is None:
            failed += 1
            print(f"not ok - {name}: no README: begin/end lines in the file")
        elif len(snippets) != 1:
            failed += 1
            print(f"not ok - {name}: README has {len(snippets)} {lang} blocks in that section, not 1")
        elif snippets[0] != textwrap.dedent(m.group(1)):
            failed += 1
            print(f"not ok - {name}: the texts differ")
            want = textwrap.dedent(m.group(1)).splitlines()
            for i, (a, b) in enumerate(zip(want + [""] * len(snippets[0].splitlines()), snippets[0].splitlines())):
                if a != b:
                    print(f"    line {i + 1}: example {a!r}, README {b!r}")
                    break
        else:
            print(f"ok - {name}")
    untested = sorted({l for (l, _) in blocks} - set(EXAMPLES) - {"ini", "sql", "sh"})
    if untested:
        failed += 1
        print(f"not ok - README's snippets in languages without an example: {', '.join(untested)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
