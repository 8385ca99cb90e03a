"""
Every Debian package the project uses is named in scripts/install-deps.sh.

A machine prepared by hand (packages installed once and forgotten) keeps the
suite green while a new machine fails; this test does not trust the machine.
It derives from the sources what the project uses, finds on this machine the
file that provides each thing and asks dpkg which package owns it, and fails
naming that package when install-deps.sh does not list it:

  - GStreamer elements in pipeline descriptions (string literals of the C and
    Python sources: the first word of each `!`-separated part) and in
    gst_element_factory_make/find calls -> plugin file (gst-inspect-1.0) -> package;
  - external programs run by the tests, scripts, tools and the Makefile
    (argv lists given to subprocess, system() commands, shell command words,
    find_program) -> file on the system PATH -> package;
  - Python modules imported by the tests and tools (not the standard library)
    and GObject typelibs (gi.require_version, `from gi.repository import`);
  - pkg-config modules of the CMake build -> .pc file -> package.

install-deps.sh lists each package with what the project uses of it
("gst:ELEMENT", "prog:NAME", "py:MODULE", "typelib:NAME-VER", "pc:MODULE");
it checks those after installing. An item must be listed under the package
that owns its file, or under a listed package that hard-depends on (or
Provides) the owner; packages marked Essential are on every Debian system.
Something derived that this machine cannot find at all is a failure too: the
package that would provide it is missing here.
"""
import ast
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vigiltest  # noqa: E402

SRC = os.path.abspath(os.environ.get("VIGIL_SRC") or
                      os.path.join(os.path.dirname(__file__), "..", ".."))
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
SYS_PY = "/usr/bin/python3"
# Source trees the derivation reads (the build tree and vendored node modules excluded).
SCAN = ["common", "config", "daemon", "index", "ingest", "serve", "storage", "tools", "tests",
        "scripts", "demo", ".ci", "media"]
SHELL_KEYWORDS = {"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done",
                  "case", "esac", "in", "function", "select", "time", "!", "{", "}", "[[", "]]"}


def rel(p):
    return os.path.relpath(p, SRC)


def source_files(exts, names=()):
    out = []
    for top in SCAN:
        base = os.path.join(SRC, top)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d not in ("node_modules", "corpus", "data")]
            for f in filenames:
                if f.endswith(exts) or f in names:
                    out.append(os.path.join(dirpath, f))
    return sorted(out)


def read(p):
    with open(p, encoding="utf-8", errors="replace") as f:
        return f.read()


# ---- what install-deps.sh declares ----

def declared():
    """{package: set(items)} from the deps=( ... ) table of install-deps.sh."""
    text = read(os.path.join(SRC, "scripts", "install-deps.sh"))
    m = re.search(r"^deps=\(\n(.*?)^\)", text, re.S | re.M)
    assert m, "scripts/install-deps.sh has no deps=( ... ) table"
    table = {}
    for line in m.group(1).splitlines():
        line = line.split("#", 1)[0].strip().strip('"')
        if not line:
            continue
        words = line.split()
        table.setdefault(words[0], set()).update(words[1:])
    return table


# ---- derivation from the sources ----

C_LITERALS = re.compile(r'"((?:[^"\\\n]|\\.)*)"((?:\s*"(?:[^"\\\n]|\\.)*")*)')


def c_literals(text):
    """String literals of a C file, adjacent ones joined, comments dropped."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"(?m)//.*$", "", text)
    out = []
    for m in C_LITERALS.finditer(text):
        parts = [m.group(1)] + re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(2))
        out.append(("".join(parts), m.start()))
    return out


def py_literals(tree):
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)]


ELEMENT_AT = re.compile(r"(?:^|!|\()\s*([a-z][a-z0-9_]*)(?=\s|$|!|\))")


def pipeline_elements(lit):
    """Elements named by a pipeline description: the first word of each part.
    Caps (video/x-raw,...) and printf holes (%s) are not words of this shape."""
    if "!" not in lit:
        return []
    return ELEMENT_AT.findall(lit)


FACTORY_CALL = re.compile(r'\b(?:gst_element_factory_make|gst_element_factory_find|'
                          r'have_element|ElementFactory\.make|ElementFactory\.find)\s*\(\s*"([a-z0-9_]+)"')


def derive_elements():
    """{element: [where]}"""
    found = {}
    for p in source_files((".c", ".h")):
        text = read(p)
        if "gst" not in text.lower():
            continue
        for lit, pos in c_literals(text):
            for e in pipeline_elements(lit):
                found.setdefault(e, []).append("%s:%d" % (rel(p), text.count("\n", 0, pos) + 1))
        for m in FACTORY_CALL.finditer(text):
            found.setdefault(m.group(1), []).append(rel(p))
        # A payloader chosen by a conditional and spliced into the launch line.
        for m in re.finditer(r'"(rtp[a-z0-9]+(?:pay|depay))"', text):
            found.setdefault(m.group(1), []).append(rel(p))
    for p in source_files((".py",)):
        text = read(p)
        # (this file's own prose about pipelines names no element)
        if "Gst" not in text and "gst" not in text or p == os.path.abspath(__file__):
            continue
        for lit in py_literals(ast.parse(text)):
            for e in pipeline_elements(lit):
                found.setdefault(e, []).append(rel(p))
    return found


SUBPROCESS_FUNCS = {"run", "Popen", "call", "check_call", "check_output"}


def _call_name(node):
    f = node.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return None


def _list_head(node):
    """The first element of a list literal (or of `[...] + x`) if it is a string."""
    while isinstance(node, ast.BinOp):
        node = node.left
    if isinstance(node, ast.List) and node.elts and isinstance(node.elts[0], ast.Constant) \
            and isinstance(node.elts[0].value, str) and not node.elts[0].value.startswith("-"):
        return node.elts[0].value
    return None


def py_programs(path):
    """Programs a Python file runs: heads of argv lists handed to subprocess (or
    to the harness's Proc), directly or through a variable, and shutil.which()."""
    tree = ast.parse(read(path))
    runners = SUBPROCESS_FUNCS | {"Proc"}
    argv_names, progs = set(), []
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and _call_name(n) in runners and n.args:
            a = n.args[0]
            head = _list_head(a)
            if head:
                progs.append(head)
            while isinstance(a, ast.BinOp):
                a = a.left
            if isinstance(a, ast.Name):
                argv_names.add(a.id)
        if isinstance(n, ast.Call) and _call_name(n) == "which" and n.args \
                and isinstance(n.args[0], ast.Constant):
            progs.append(n.args[0].value)
    for n in ast.walk(tree):
        if isinstance(n, (ast.Assign, ast.AugAssign)):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            if any(isinstance(t, ast.Name) and t.id in argv_names for t in targets):
                head = _list_head(n.value)
                if head:
                    progs.append(head)
    return progs


def c_programs(path):
    """Programs a C file runs with system() or popen(): the command words of the
    command string, given literally or as the format of an snprintf into the
    buffer passed."""
    text = read(path)
    progs = []
    for m in re.finditer(r"\b(?:system|popen)\(\s*(\"|[A-Za-z_][A-Za-z0-9_]*)", text):
        if m.group(1) == '"':
            lits = [l for l, _ in c_literals(text[m.start(1):m.start(1) + 2000])[:1]]
        else:
            lits = [c_literals(f)[0][0] for f in (re.findall(
                r"snprintf\(\s*%s\s*,[^,]+,\s*((?:\"(?:[^\"\\\n]|\\.)*\"\s*)+)" % m.group(1),
                text))]
        for lit in lits:
            progs += shell_words(lit.replace('\\"', '"').replace("%s", "X").replace("%d", "0"))
    return progs


def shell_words(text):
    """Command words of a shell script (or of Makefile recipes)."""
    text = re.sub(r"\\\n", " ", text)
    # array literals (name=( ... )) hold data, not commands
    text = re.sub(r"(?s)\b[A-Za-z_][A-Za-z0-9_]*=\((.*?)\)", "ARRAY=()", text)
    words = []
    heredoc = None
    for line in text.splitlines():
        if heredoc:
            if line.strip() == heredoc:
                heredoc = None
            continue
        m = re.search(r"<<-?\s*'?\"?([A-Za-z_]+)", line)
        if m:
            heredoc = m.group(1)
        line = re.sub(r"(^|\s)#.*$", "", line)
        line = re.sub(r"\$\(\([^)]*\)\)", " ", line)  # $((arithmetic))
        line = re.sub(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"", " STR ", line)
        for seg in re.split(r"&&|\|\||[;|&()`]|\$\(|\bthen\b|\bdo\b|\belse\b", line):
            toks = seg.split()
            if toks and toks[0].startswith("@"):  # make's silent prefix
                toks[0] = toks[0][1:]
            if toks and toks[0] in ("for", "case", "select"):
                continue
            while toks and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", toks[0]) or toks[0] in
                            SHELL_KEYWORDS or toks[0] in ("@", "-", "exec", "command", "nice")):
                t = toks.pop(0)
                # CC=clang cmake ...: the compiler chosen is a program too
                v = re.match(r"^(?:CC|CXX)=([a-z][a-z0-9+._-]*)$", t)
                if v:
                    words.append(v.group(1))
            if toks:
                words.append(toks[0].lstrip("@"))
            if toks and toks[0] == "xargs":  # xargs [-P N] [-n N] ... PROGRAM
                rest = toks[1:]
                while rest and rest[0].startswith("-"):
                    opt = rest.pop(0)
                    if opt in ("-P", "-n", "-I", "-L", "-d", "-s", "-a") and rest:
                        rest.pop(0)
                if rest:
                    words.append(rest[0])
    return [w for w in words if re.match(r"^(/[\w./+-]+|[a-z][a-z0-9+._-]*)$", w)]


def makefile_programs(path):
    recipes = "\n".join(l[1:] for l in read(path).splitlines() if l.startswith("\t"))
    return shell_words(recipes)


def derive_programs():
    found = {}

    def add(prog, where):
        found.setdefault(prog, []).append(rel(where))

    for p in source_files((".py",)):
        for prog in py_programs(p):
            add(prog, p)
    for p in source_files((".c",)):
        for prog in c_programs(p):
            add(prog, p)
    for p in source_files((".sh",), names=("run",)):
        for w in shell_words(read(p)):
            add(w, p)
    for p in [os.path.join(SRC, "Makefile")]:
        for w in makefile_programs(p):
            add(w, p)
    for p in [os.path.join(SRC, "CMakeLists.txt")] + source_files((), names=("CMakeLists.txt",)):
        for m in re.finditer(r"find_program\(\s*\w+\s+(?:NAMES\s+)?([a-z][\w.+-]*)", read(p)):
            add(m.group(1), p)
    # Absolute program paths anywhere in the sources (/usr/bin/chromium that the
    # browser tests drive, /usr/bin/python3 with python3-gi, ...).
    for p in source_files((".py", ".c", ".sh", ".mjs", ".js")):
        for m in re.finditer(r"[\"'](/(?:usr/)?s?bin/[\w.+-]+)[\"' ]", read(p)):
            add(m.group(1), p)
    # sudo is used only when install-deps.sh is not run as root and cannot install itself.
    found.pop("sudo", None)
    return found


def derive_pkgconfig():
    found = {}
    for p in [os.path.join(SRC, "CMakeLists.txt")] + source_files((), names=("CMakeLists.txt",)):
        for m in re.finditer(r"pkg_check_modules\(\s*\w+([^)]*)\)", read(p)):
            for w in m.group(1).split():
                if w not in ("REQUIRED", "QUIET", "IMPORTED_TARGET", "GLOBAL", "NO_CMAKE_PATH"):
                    found.setdefault(re.split(r"[<>=]", w)[0], []).append(rel(p))
    return found


def derive_runtimes():
    """Sanitizer runtimes the build links: GCC's for VIGIL_SANITIZE, clang's for the
    libFuzzer build (tests/fuzz builds with clang)."""
    import platform
    found = {}
    gcc_names = {"address": "libasan.so", "undefined": "libubsan.so"}
    clang_names = {"address": "asan", "undefined": "ubsan_standalone", "fuzzer": "fuzzer"}
    for p in [os.path.join(SRC, "CMakeLists.txt")] + source_files((), names=("CMakeLists.txt",)):
        fuzz = os.path.join("tests", "fuzz") in rel(p)
        for m in re.finditer(r"-fsanitize=([\w,-]+)", read(p)):
            for san in m.group(1).split(","):
                if fuzz and san in clang_names:
                    n = "libclang_rt.%s-%s.a" % (clang_names[san], platform.machine())
                elif not fuzz and san in gcc_names:
                    n = gcc_names[san]
                else:
                    continue
                found.setdefault(n, []).append(rel(p))
    return found


def runtime_file(name):
    if name.startswith("libclang_rt."):
        r = subprocess.run(["clang", "--print-runtime-dir"], capture_output=True, text=True)
        f = os.path.join(r.stdout.strip(), name)
    else:
        r = subprocess.run(["gcc", "-print-file-name=" + name], capture_output=True, text=True)
        f = r.stdout.strip()
    return f if os.path.isabs(f) and os.path.exists(f) else None


def derive_python():
    """(modules, typelibs) imported by the project's Python files."""
    mods, typelibs = {}, {}
    local = {os.path.splitext(f)[0] for p in source_files((".py",))
             for f in [os.path.basename(p)]}
    for p in source_files((".py",)):
        tree = ast.parse(read(p))
        for n in ast.walk(tree):
            names = []
            if isinstance(n, ast.Import):
                names = [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
                names = [n.module]
                if n.module == "gi.repository":
                    for a in n.names:
                        typelibs.setdefault(a.name, []).append(rel(p))
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in local:
                    continue
                mods.setdefault(top, []).append(rel(p))
            if isinstance(n, ast.Call) and _call_name(n) == "require_version" and n.args \
                    and isinstance(n.args[0], ast.Constant):
                typelibs.setdefault(n.args[0].value, []).append(rel(p))
    return mods, typelibs


# ---- what this machine says ----

def owner(path):
    """The Debian package that owns PATH (trying the merged-/usr twin), or None."""
    cands = [path]
    for a, b in (("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"), ("/usr/lib/", "/lib/")):
        if path.startswith(a):
            cands.append(b + path[len(a):])
        elif path.startswith(b):
            cands.append(a + path[len(b):])
    for c in cands:
        r = subprocess.run(["dpkg-query", "-S", c], capture_output=True, text=True)
        if r.returncode == 0:
            for line in r.stdout.splitlines():
                pkgs, _, f = line.partition(": ")
                if f.strip() == c and not pkgs.startswith("diversion by"):
                    return pkgs.split(",")[0].strip().split(":")[0]
    return None


def pkg_field(pkg, field):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${%s}" % field, pkg], capture_output=True,
                       text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def hard_deps(pkg):
    """Packages PKG depends on without alternatives (Depends, Pre-Depends)."""
    out = set()
    for clause in (pkg_field(pkg, "Depends") + "," + pkg_field(pkg, "Pre-Depends")).split(","):
        clause = clause.strip()
        if clause and "|" not in clause:
            out.add(clause.split()[0].split(":")[0])
    return out


_closure = {}


def covered_by(listed_pkg):
    """What a listed package brings with certainty: itself, what it Provides and
    its hard-dependency closure."""
    if listed_pkg in _closure:
        return _closure[listed_pkg]
    seen, todo = set(), [listed_pkg]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo.extend(hard_deps(p) - seen)
    for prov in pkg_field(listed_pkg, "Provides").split(","):
        if prov.strip():
            seen.add(prov.strip().split()[0])
    _closure[listed_pkg] = seen
    return seen


def essential(pkg):
    return pkg_field(pkg, "Essential") == "yes"


def check_item(table, item, pkg, why):
    """None if ITEM (owned by PKG) is declared right in TABLE, else the complaint."""
    if pkg is None:
        return "%s (%s): no Debian package owns it on this machine" % (item, why)
    if essential(pkg) and not item.startswith(("gst:", "typelib:", "py:", "pc:")):
        return None
    holders = [q for q, items in table.items() if item in items]
    if not holders:
        return ("%s (%s) comes from package %s; install-deps.sh does not list it "
                "(add `%s %s` to its deps table)" % (item, why, pkg, pkg, item))
    provides = {x.strip().split()[0] for x in pkg_field(pkg, "Provides").split(",") if x.strip()}
    # (a nodejs that Provides npm stands for the npm package)
    if not any(pkg == q or pkg in covered_by(q) or q in provides for q in holders):
        return ("%s (%s) comes from package %s, but install-deps.sh lists it under %s, "
                "which does not bring %s" % (item, why, pkg, " ".join(holders), pkg))
    return None


def gst_plugin_file(element):
    if not shutil.which("gst-inspect-1.0", path=SYSTEM_PATH):
        return None
    r = subprocess.run(["gst-inspect-1.0", element], capture_output=True, text=True,
                       env=dict(os.environ, PATH=SYSTEM_PATH))
    m = re.search(r"^\s*Filename\s+(\S+)", r.stdout, re.M)
    return os.path.realpath(m.group(1)) if m else None


def py_module_file(mod):
    r = subprocess.run([SYS_PY, "-c", "import importlib.util as u, sys; s = u.find_spec(sys.argv[1]);"
                        "print(s.origin if s and s.origin not in (None, 'namespace') else "
                        "(list(s.submodule_search_locations)[0] if s else ''))", mod],
                       capture_output=True, text=True)
    p = r.stdout.strip()
    return os.path.realpath(p) if r.returncode == 0 and p else None


def typelib_file(ns):
    import glob
    for d in ("/usr/lib/x86_64-linux-gnu/girepository-1.0", "/usr/lib/girepository-1.0"):
        for f in sorted(glob.glob(os.path.join(d, ns + "-*.typelib"))):
            return f
    return None


def pc_file(mod):
    r = subprocess.run(["pkg-config", "--path", mod], capture_output=True, text=True)
    p = r.stdout.strip()
    return os.path.realpath(p) if r.returncode == 0 and p else None


class Deps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.table = declared()
        mods, typelibs = derive_python()
        cls.derived = {"gst": derive_elements(), "prog": derive_programs(), "py": mods,
                       "typelib": typelibs, "pc": derive_pkgconfig(), "rt": derive_runtimes()}
        progs = cls.derived["prog"]
        for n in list(progs):
            if n.startswith(("build/", "./")) or resolve_program(n) == "builtin":
                del progs[n]

    def report(self, kind, resolve):
        derived = self.derived[kind]
        problems = []
        for name, where in sorted(derived.items()):
            item = "%s:%s" % (kind, name)
            why = "used in " + ", ".join(sorted(set(where))[:3])
            f = resolve(name)
            if f is None:
                problems.append("%s (%s): not found on this machine; the package that provides "
                                "it is not installed, so install-deps.sh cannot list it" %
                                (item, why))
                continue
            p = check_item(self.table, item, owner(f), why + "; file " + f)
            if p:
                problems.append(p)
        print("%s: %d derived from the sources: %s" % (kind, len(derived), " ".join(sorted(derived))),
              flush=True)
        if problems:
            self.fail("%d of %d not covered by install-deps.sh:\n  %s"
                      % (len(problems), len(derived), "\n  ".join(problems)))

    def test_gstreamer_elements(self):
        self.assertIn("videotestsrc", self.derived["gst"], "the element derivation is broken")
        self.report("gst", gst_plugin_file)

    def test_programs(self):
        self.assertIn("ffprobe", self.derived["prog"], "the program derivation is broken")
        self.report("prog", resolve_program)

    def test_python_modules(self):
        self.report("py", py_module_file)

    def test_typelibs(self):
        self.report("typelib", typelib_file)

    def test_pkgconfig_modules(self):
        self.report("pc", pc_file)

    def test_sanitizer_runtimes(self):
        self.report("rt", runtime_file)

    def test_table_says_why(self):
        """Each package of the table is there for something the sources use, so
        removing any package from install-deps.sh makes one of the tests above fail
        (and a stale entry is noticed)."""
        used = {"%s:%s" % (k, n) for k, d in self.derived.items() for n in d}
        idle = sorted(p for p, items in self.table.items() if not items & used)
        self.assertFalse(idle, "install-deps.sh lists packages for nothing the sources use "
                         "(give each an item that is used, or drop it): %s" % idle)

    def test_integration_tests_report_skips(self):
        """Not a package, but the same rot: an integration test built on unittest
        must end in vigiltest.main(), which reports an all-skipped file to CTest as
        skipped; plain unittest.main() would count it as passed."""
        bad = []
        for p in sorted(source_files((".py",))):
            if os.path.basename(p).startswith("test_") and "unittest" in read(p) \
                    and "vigiltest.main(" not in read(p):
                bad.append(rel(p))
        self.assertFalse(bad, "use vigiltest.main() in: %s" % bad)

    def test_table_packages_exist(self):
        """Every package of the table is a real Debian package (a typo installs nothing)."""
        r = subprocess.run(["apt-cache", "show", "--no-all-versions"] + sorted(self.table),
                           capture_output=True, text=True)
        known = set(re.findall(r"^Package: (\S+)", r.stdout, re.M))
        unknown = sorted(set(self.table) - known)
        self.assertFalse(unknown, "install-deps.sh lists unknown packages: %s" % unknown)


def resolve_program(name):
    # a shell builtin (cd, echo, ...) is no program
    r = subprocess.run(["bash", "-c", 'type -t "$1"', "-", name], capture_output=True, text=True)
    if r.stdout.strip() in ("builtin", "keyword", "function"):
        return "builtin"
    if name.startswith("/"):
        return os.path.realpath(name) if os.path.exists(name) else None
    p = shutil.which(name, path=SYSTEM_PATH)
    return os.path.realpath(p) if p else None


if __name__ == "__main__":
    vigiltest.main()
