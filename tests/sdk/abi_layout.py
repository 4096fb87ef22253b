#!/usr/bin/env python3
"""ABI layout test: the size and offset of every member of every public struct.

A plugin built against an older SDK reads the host's structs (tn_api,
tn_event, tn_http_response, ...) and the host reads the plugin's
(tn_plugin_desc, tn_config_key, tn_http_request, tn_job_spec, ...) at the
offsets the older headers gave.  A member that moves, is inserted before
another or changes size breaks every plugin built before the edit, and
nothing else fails: this test does.

Nothing is listed by hand.  `gen` parses the installed headers
(sdk/include/tanomu/*.h) for every `struct NAME { ... }` and writes a C
program printing, for each struct, its sizeof and, for each member, offset
and size, in declaration order.  The build compiles and runs that program
with the same compiler and flags as the host; `check` compares its output
with the committed baseline tests/sdk/abi_layout.txt and fails with a
unified diff on any difference (a member moved, inserted, resized,
renamed or removed, or a struct that grew).

When a minor appends a member (at the end of a struct, or in place of a
reserved slot), update the baseline in the same commit:

    cmake --build build --target abi_layout_update

which refuses (and leaves the baseline alone) unless the change only
appends: no member moved, resized or gone, no struct shrunk, and every new
member at or past where its struct's reserved slots (or its end) were.
Then check in `git diff tests/sdk/abi_layout.txt` that only the appended
lines (and the shrunken reserved array) changed.  The baseline is for the
platforms the host supports (x86_64 and aarch64 Linux, LP64).

Usage:
    abi_layout.py gen OUT.c HEADER...
    abi_layout.py check PROGRAM BASELINE
    abi_layout.py update [--force] PROGRAM BASELINE   (refuses all but appends)
    abi_layout.py selftest CC BASELINE HEADER...   (the test can fail)
"""

import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile

STRUCT_RE = re.compile(r"\bstruct\s+([A-Za-z_]\w*)\s*\{")
IDENT_RE = re.compile(r"[A-Za-z_]\w*")


def strip(text):
    """Comments, preprocessor lines and GNU attributes out; code stays."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    # __attribute__((...)) with nested parentheses.
    while True:
        m = re.search(r"__attribute__\s*\(\(", text)
        if not m:
            break
        depth, i = 0, m.end() - 2
        while i < len(text):
            if text[i] == "(":
                depth += 1
            elif text[i] == ")":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        text = text[: m.start()] + " " + text[i + 1:]
    return text


def body_of(text, start):
    """The text between the brace at `start` and its match."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1: i]
    raise SystemExit("abi_layout: unbalanced braces")


def declarations(body):
    """The body split at the semicolons that end its members (not those
    inside a nested struct or union)."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(body):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == ";" and depth == 0:
            out.append(body[start:i])
            start = i + 1
    return out


def member_names(body, struct):
    """Each declaration's name, in order: `T *x;`, `T x[4];`, `R (*f)(A);`,
    and `union { ... } u;` (a nested struct or union counts as one member:
    its own layout is the named type's business)."""
    names = []
    for decl in declarations(body):
        decl = " ".join(decl.split())
        if not decl:
            continue
        if "{" in decl:
            decl = "x " + decl[decl.rindex("}") + 1:].strip()
            if decl == "x ":
                raise SystemExit(f"abi_layout: an anonymous struct/union in {struct}: name it")
        m = re.match(r"^[^(]*\(\s*\*\s*([A-Za-z_]\w*)", decl)  # function pointer
        if m:
            names.append(m.group(1))
            continue
        if "," in decl:
            raise SystemExit(f"abi_layout: '{decl}' in {struct}: one member per declaration")
        if ":" in decl:
            raise SystemExit(f"abi_layout: bit-field '{decl}' in {struct}: not in a public struct")
        decl = re.sub(r"\[[^\]]*\]\s*$", "", decl).strip()  # array suffix
        ids = IDENT_RE.findall(decl)
        if len(ids) < 2:
            raise SystemExit(f"abi_layout: cannot read '{decl}' in {struct}")
        names.append(ids[-1])
    return names


def parse(headers):
    structs = []
    for path in headers:
        text = strip(open(path, encoding="utf-8").read())
        for m in STRUCT_RE.finditer(text):
            body = body_of(text, m.end() - 1)
            structs.append((m.group(1), member_names(body, m.group(1))))
    if not structs:
        raise SystemExit("abi_layout: no struct found")
    return structs


def gen(out, headers):
    lines = [
        "/* Generated by tests/sdk/abi_layout.py from the SDK headers: do not edit. */",
        "#include <stddef.h>",
        "#include <stdio.h>",
        "#include <tanomu/tanomu.h>",
        "",
        "#define M(s, m) printf(\"%s.%s offset %zu size %zu\\n\", #s, #m, offsetof(struct s, m), \\",
        "                      sizeof(((struct s *)0)->m))",
        "",
        "int main(void)",
        "{",
        "    printf(\"# ABI layout of the SDK's public structs; see tests/sdk/abi_layout.py\\n\");",
    ]
    for name, members in parse(headers):
        lines.append(f"    printf(\"{name} size %zu\\n\", sizeof(struct {name}));")
        for member in members:
            lines.append(f"    M({name}, {member});")
    lines += ["    return 0;", "}", ""]
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def run(program):
    return subprocess.run([program], check=True, capture_output=True, text=True).stdout


def check(program, baseline):
    got = run(program).splitlines(keepends=True)
    want = open(baseline, encoding="utf-8").read().splitlines(keepends=True)
    if got == want:
        print(f"abi_layout: {sum(1 for l in got if ' offset ' in l)} members match {baseline}")
        return 0
    sys.stdout.writelines(difflib.unified_diff(want, got, baseline, "built headers"))
    print("\nabi_layout: the SDK's struct layout changed.  A member that moved, was inserted\n"
          "or changed size breaks every plugin built before.  Only append (at the end, or in\n"
          "place of a reserved slot); then update the baseline in the same commit:\n"
          "    cmake --build build --target abi_layout_update")
    return 1


def layout(lines):
    """{struct: size} and {"struct.member": (offset, size)} from the output."""
    sizes, members = {}, {}
    for line in lines:
        f = line.split()
        if len(f) == 3 and f[1] == "size":
            sizes[f[0]] = int(f[2])
        elif len(f) == 5 and f[1] == "offset":
            members[f[0]] = (int(f[2]), int(f[4]))
    return sizes, members


def append_only(old_lines, new_lines):
    """What in new is not an append to old: a member that moved, changed
    size or went away (reserved arrays may shrink from the front: they are
    where appends go), a struct that shrank, or a new member placed before
    the old end of its struct's used part.  [] when new only appends."""
    old_sizes, old = layout(old_lines)
    new_sizes, new = layout(new_lines)
    bad = []
    for name, size in old_sizes.items():
        if name not in new_sizes:
            bad.append(f"struct {name} is gone")
        elif new_sizes[name] < size:
            bad.append(f"struct {name} shrank from {size} to {new_sizes[name]} bytes")
    for key, (off, size) in old.items():
        struct, member = key.split(".", 1)
        if member == "reserved":
            continue
        if key not in new:
            bad.append(f"{key} is gone")
        elif new[key] != (off, size):
            bad.append(f"{key} moved or resized: offset {off} size {size} -> "
                       f"offset {new[key][0]} size {new[key][1]}")
    for key, (off, size) in new.items():
        struct, member = key.split(".", 1)
        if key in old or member == "reserved" or struct not in old_sizes:
            continue
        # An append goes where the old reserved slots were, or past the end.
        reserved = old.get(f"{struct}.reserved")
        start = reserved[0] if reserved else old_sizes[struct]
        if off < start:
            bad.append(f"{key} inserted at offset {off}, before the appendable end ({start})")
    return bad


def update(program, baseline, force=False):
    got = run(program)
    try:
        old = open(baseline, encoding="utf-8").read().splitlines()
    except FileNotFoundError:
        old = []
    bad = append_only(old, got.splitlines())
    if bad and not force:
        print("abi_layout: not an append; the baseline is left as it is:")
        for b in bad:
            print("  " + b)
        print("Only a new ABI major may break the layout: then run\n"
              f"    {sys.argv[0]} update --force {program} {baseline}")
        return 1
    with open(baseline, "w", encoding="utf-8") as f:
        f.write(got)
    print(f"abi_layout: wrote {baseline}; review `git diff {baseline}`")
    return 0


# Edits a plugin author might make, each of which must fail the check:
# (header, text, replacement, a baseline line the diff must name).
MUTATIONS = [
    ("api.h", "    const char *name;\n    const char *tenant_id; /* NULL",
     "    const char *tenant_id; /* NULL", "tn_event.name offset"),            # removed
    ("api.h", "    int attempt; /*", "    int64_t attempt; /*", "tn_event.attempt"),  # resized
    ("plugin.h", "    const char *name;\n    tn_type type;",
     "    tn_type type;\n    const char *name;", "tn_config_key.name"),           # moved
    ("api.h", "    const char *(*last_error)(const tn_plugin *self);",
     "    int inserted;\n    const char *(*last_error)(const tn_plugin *self);",
     "tn_api.last_error"),                                                    # inserted
    ("plugin.h", "    void *reserved[6]; /* must be zero */",
     "    void *appended;\n    void *reserved[5]; /* must be zero */", None),  # an append
]


def selftest(cc, baseline, headers):
    """Each mutation of a copy of the headers must make `check` fail and
    `update` refuse, but an append into reserved slots (line None), which
    `update` must take."""
    want = open(baseline, encoding="utf-8").read()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        inc = os.path.join(tmp, "tanomu")
        for header, old, new, line in MUTATIONS:
            shutil.rmtree(inc, ignore_errors=True)
            os.makedirs(inc)
            for h in headers:
                shutil.copy(h, inc)
            path = os.path.join(inc, header)
            text = open(path, encoding="utf-8").read()
            if old not in text:
                print(f"selftest: '{old[:40]}...' is no longer in {header}: update MUTATIONS")
                failures += 1
                continue
            open(path, "w", encoding="utf-8").write(text.replace(old, new, 1))
            src, prog = os.path.join(tmp, "m.c"), os.path.join(tmp, "m")
            gen(src, sorted(os.path.join(inc, os.path.basename(h)) for h in headers))
            subprocess.run([cc, "-std=c17", "-I", tmp, "-o", prog, src], check=True)
            got = run(prog)
            diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True)))
            appends = not append_only(want.splitlines(), got.splitlines())
            if line is None:  # an append into reserved slots: update takes it
                if not diff or not appends:
                    print(f"selftest: the append to {header} was refused or not seen:\n{diff}")
                    failures += 1
            elif not any(l.startswith("-" + line) for l in diff.splitlines()) or appends:
                print(f"selftest: editing {header} ({line}) was not caught:\n{diff}")
                failures += 1
    print(f"abi_layout selftest: {len(MUTATIONS) - failures}/{len(MUTATIONS)} edits caught")
    return 1 if failures else 0


def main(argv):
    if len(argv) >= 4 and argv[0] == "selftest":
        return selftest(argv[1], argv[2], argv[3:])
    if len(argv) >= 3 and argv[0] == "gen":
        gen(argv[1], argv[2:])
        return 0
    if len(argv) == 3 and argv[0] == "check":
        return check(argv[1], argv[2])
    if len(argv) == 3 and argv[0] == "update":
        return update(argv[1], argv[2])
    if len(argv) == 4 and argv[0] == "update" and argv[1] == "--force":
        return update(argv[2], argv[3], force=True)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
